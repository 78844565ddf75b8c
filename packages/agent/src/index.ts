/**
 * @packageDocumentation
 * The weft agent: the I/O shell around the ring core (mesh, store, socket API, metrics).
 */
export { startAgent } from './agent.ts'
export type { Agent } from './agent.ts'
export { runAgentMain, EXIT_OK, EXIT_FAILED, EXIT_CONFIG } from './run.ts'
export { parseConfig, formatInit, DEFAULT_RANGE, DEFAULT_PORT, DEFAULT_DATA_DIR, DEFAULT_SOCKET_PATH } from './config.ts'
export type { AgentConfig, Env, HostPort, LogLevel } from './config.ts'
export { ConfigError, IdentityError, MeshError, RequestError, SocketError, StoreError, SwarmKeyError } from './errors.ts'
