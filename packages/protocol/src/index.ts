export * from './types.ts'
export { createClient, DEFAULT_TIMEOUT_MS } from './client.ts'
export type { Client, ClientOptions } from './client.ts'
export { AgentTimeoutError, AgentUnavailableError, ApiError, ProtocolError } from './errors.ts'
