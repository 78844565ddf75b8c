import type { ErrorCode } from './types.ts'

/** Why a socket could not be reached, in words, by errno code. */
const REASONS: Record<string, string> = {
  ENOENT: 'no such socket; is the agent running?',
  ECONNREFUSED: 'connection refused; is the agent running?',
  ENOTSOCK: 'not a socket',
  ENOTDIR: 'not a socket',
  ECONNRESET: 'connection reset; the agent may have stopped',
  EPIPE: 'connection closed while sending; the agent may have stopped',
  EOF: 'connection closed before a whole answer; the agent may have stopped',
  EACCES: 'permission denied; the socket is root-only'
}
export const UNAVAILABLE_CODES: ReadonlySet<string> = new Set(Object.keys(REASONS))

/**
 * Nobody answers on the agent's socket (missing, refused, reset, closed early, not a socket, not
 * permitted). After a reset or an early close the request may already have taken effect: repeat it
 * (every route is idempotent per attachment) rather than assume it did not.
 */
export class AgentUnavailableError extends Error {
  override readonly name = 'AgentUnavailableError'
  readonly socketPath: string
  readonly errno: string
  constructor (socketPath: string, errno: string) {
    super(`cannot reach the weft agent at ${socketPath}: ${REASONS[errno] ?? errno}`)
    this.socketPath = socketPath
    this.errno = errno
  }
}

/** The agent accepted the connection but did not answer in time. The request may still take effect. */
export class AgentTimeoutError extends Error {
  override readonly name = 'AgentTimeoutError'
  readonly socketPath: string
  constructor (socketPath: string, route: string, timeoutMs: number) {
    super(`weft agent on ${socketPath} did not answer ${route} within ${timeoutMs} ms`)
    this.socketPath = socketPath
  }
}

/** The agent answered with an ErrorBody. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly status: number
  constructor (status: number, code: ErrorCode, message: string, retryable = false) {
    super(message)
    this.status = status
    this.code = code
    this.retryable = retryable
  }
}

/** The agent answered something that is not the API: not JSON, or an error without an ErrorBody. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
}
