/**
 * @packageDocumentation
 * The weft agent: the I/O shell around the ring core (mesh, store, socket API, metrics).
 */
export { runAgentMain } from './run.ts'
export { parseConfig } from './config.ts'
export type { AgentConfig, Env } from './config.ts'
