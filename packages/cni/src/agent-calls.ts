import type { Client } from '@weft/protocol'

/**
 * The agent operations a CNI command calls. The agent passes its own, in process; each behaves as
 * the socket route of the same name (validation, ApiError on failure).
 */
export type AgentCalls = Pick<Client, 'allocate' | 'release' | 'check' | 'gc' | 'status'>
