/** Typed errors of the ring core. Tests and callers match on `name`, which is stable. */

/** Thrown when a CIDR or an address is malformed, or lies outside the universe. */
export class AddressError extends Error {
  override readonly name = 'AddressError'
}

/** Thrown when a ring is invalid, or a mutation's precondition does not hold. */
export class RingError extends Error {
  override readonly name = 'RingError'
}

/** Thrown by merge when the two rings were initialised by different decisions. */
export class DifferentSeedsError extends Error {
  override readonly name = 'DifferentSeedsError'
}

/** Thrown by merge when the two rings divide different universes. */
export class DifferentUniverseError extends Error {
  override readonly name = 'DifferentUniverseError'
}

/**
 * Thrown by the codec on a message of a codec version this build does not merge: not garbage, an
 * agent of another version in a rolling update. Its sender is ignored for that message, never penalised.
 */
export class CodecVersionError extends Error {
  readonly version: number
  constructor (version: number, message: string) {
    super(message)
    this.version = version
  }
}

/** A newer codec version than this build speaks. */
export class NewerCodecError extends CodecVersionError {
  override readonly name = 'NewerCodecError'
}

/** An older codec version whose ring this build no longer merges (3 and before: per-token versions). */
export class OlderCodecError extends CodecVersionError {
  override readonly name = 'OlderCodecError'
}

/** Thrown by the codec on bytes that are not a valid encoding; `path` says where decoding failed. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError'
}

/** A peer's own checks failed: a bug, never bad input. The peer must not go on. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError'
}
