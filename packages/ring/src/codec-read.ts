/**
 * The codec's readers: each checks one field of decoded msgpack and names it on failure, so a bad
 * message is a DecodeError that says where. Shared by every codec version this build reads.
 */
import { canonicalAddress } from './address.ts'
import { base58Encode } from './base58.ts'
import { DecodeError } from './errors.ts'
import type { AcceptorRecord, Ballot, Message, NodeRecord, PaxosMessage, PeerId } from './types.ts'

const MAX_STRING = 1024
const MAX_BIGINT_BYTES = 17
/** A peer id sent as bytes: libp2p's are 34 to 38; anything past this is not an id. */
const MAX_PEER_BYTES = 64

export function fail (path: string, what: string): never {
  throw new DecodeError(`${path}: ${what}`)
}
export function arr (x: unknown, path: string, len?: number): unknown[] {
  if (!Array.isArray(x)) fail(path, 'expected an array')
  if (len !== undefined && x.length !== len) fail(path, `expected ${len} items, got ${x.length}`)
  return x
}
export function str (x: unknown, path: string): string {
  if (typeof x !== 'string') fail(path, 'expected a string')
  if (x.length > MAX_STRING) fail(path, `string longer than ${MAX_STRING}`)
  return x
}
export function peer (x: unknown, path: string): PeerId {
  const s = str(x, path)
  if (s.length === 0) fail(path, 'empty peer id')
  return s as PeerId
}
/** A peer id as text, or as the bytes its base58btc text spells. */
export function peerText (x: unknown, path: string): PeerId {
  if (!(x instanceof Uint8Array)) return peer(x, path)
  if (x.length === 0 || x.length > MAX_PEER_BYTES) fail(path, `peer id of ${x.length} bytes`)
  return base58Encode(x) as PeerId
}
export function int (x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(path, 'expected a non-negative integer')
  return x
}
export function big (x: unknown, path: string, maxBytes = MAX_BIGINT_BYTES): bigint {
  if (!(x instanceof Uint8Array)) fail(path, 'expected big-endian bytes')
  if (x.length > maxBytes) fail(path, 'number too large')
  let v = 0n
  for (const b of x) v = (v << 8n) | BigInt(b)
  return v
}
/** A non-negative number sent as an integer when small, as big-endian bytes when not. */
export function num (x: unknown, path: string): bigint {
  return typeof x === 'number' ? BigInt(int(x, path)) : big(x, path)
}
export function bool (x: unknown, path: string): boolean {
  if (typeof x !== 'boolean') fail(path, 'expected a boolean')
  return x
}
export function nodeAddress (x: unknown, path: string): string {
  const s = str(x, path)
  if (canonicalAddress(s) !== s) fail(path, `"${s.slice(0, 64)}" is not an IP address in canonical form`)
  return s
}
export function peers (x: unknown, path: string): PeerId[] {
  return arr(x, path).map((p, i) => peer(p, `${path}[${i}]`))
}
export function ballotFromWire (x: unknown, path: string): Ballot {
  const [n, proposer] = arr(x, path, 2)
  return { n: int(n, `${path}.n`), proposer: peer(proposer, `${path}.proposer`) }
}
export function nodeFromWire (x: unknown, path: string): NodeRecord {
  const [name, created] = arr(x, path, 2)
  const n = str(name, `${path}.name`)
  if (n.length === 0) fail(`${path}.name`, 'empty node name')
  return { name: n, created: int(created, `${path}.created`) }
}

export const optBallot = (x: unknown, path: string): Ballot | null => (x === null ? null : ballotFromWire(x, path))

export function acceptedFromWire (x: unknown, path: string): AcceptorRecord['accepted'] {
  if (x === null) return null
  const [b, v] = arr(x, path, 2)
  return { ballot: ballotFromWire(b, `${path}.ballot`), value: peers(v, `${path}.value`) }
}

export const PAXOS_KINDS = ['prepare', 'promise', 'accept', 'accepted', 'nack'] as const

export function paxosFromWire (x: unknown, path: string): PaxosMessage {
  const a = arr(x, path)
  const kind = PAXOS_KINDS[int(a[0], `${path}.kind`)]
  const ballot = ballotFromWire(a[1], `${path}.ballot`)
  switch (kind) {
    case 'prepare': arr(a, path, 3); return { kind, ballot, electorate: int(a[2], `${path}.electorate`) }
    case 'promise': arr(a, path, 3); return { kind, ballot, accepted: acceptedFromWire(a[2], `${path}.accepted`) }
    case 'accept': arr(a, path, 3); return { kind, ballot, value: peers(a[2], `${path}.value`) }
    case 'accepted': arr(a, path, 2); return { kind, ballot }
    case 'nack': arr(a, path, 4); return { kind, ballot, promised: optBallot(a[2], `${path}.promised`), reason: str(a[3], `${path}.reason`) }
    default: return fail(`${path}.kind`, 'unknown paxos message kind')
  }
}

/** The messages every version writes alike. */
export function commonFromWire (type: string | undefined, a: unknown[]): Message | null {
  switch (type) {
    case 'paxos': arr(a, 'message', 3); return { type, key: str(a[1], 'message.key'), msg: paxosFromWire(a[2], 'message.paxos') }
    case 'init-hello': {
      arr(a, 'message', 4)
      return { type, node: nodeFromWire(a[1], 'message.node'), initialiser: a[2] === null ? null : nodeFromWire(a[2], 'message.initialiser'), reply: bool(a[3], 'message.reply') }
    }
    default: return null
  }
}

