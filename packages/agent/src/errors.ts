/** Typed errors of the agent. Each has a stable `name` that callers and tests match on. */

/**
 * A bad environment value: names the variable, the value and what was expected. A structured value
 * (value null) is not repeated: the message says which part of it is wrong.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly variable: string

  constructor (variable: string, value: string | null, expected: string) {
    super(value === null ? `${variable}: ${expected}` : `${variable}=${JSON.stringify(value)}: expected ${expected}`)
    this.variable = variable
  }
}

/** The data directory cannot be used as it is: wrong range, corrupt value, newer schema. */
export class StoreError extends Error {
  override readonly name = 'StoreError'
}

/** The node key in the data directory is unreadable or malformed. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError'
}

/** The swarm key file is unreadable or malformed. Never carries the key's bytes. */
export class SwarmKeyError extends Error {
  override readonly name = 'SwarmKeyError'
}

/** The mesh cannot start, e.g. a listen address is taken. */
export class MeshError extends Error {
  override readonly name = 'MeshError'
}

/** The socket path is already served by a live agent, or cannot be prepared. */
export class SocketError extends Error {
  override readonly name = 'SocketError'
}

/** A socket request that cannot be served as sent: names the field and what was wrong. */
export class RequestError extends Error {
  override readonly name = 'RequestError'
  readonly field: string

  constructor (field: string, message: string) {
    super(`${field}: ${message}`)
    this.field = field
  }
}

