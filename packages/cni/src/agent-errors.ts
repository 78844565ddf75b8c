import { ApiError } from '@weft/protocol'
import type { ErrorCode } from '@weft/protocol'
import { CniCode, CniError } from './errors.ts'

/**
 * What the agent refuses in a request that came from the config or the args: a bad field (a reserved
 * address among them), a pool it does not serve, a pool draining (no new allocations until the
 * config names another pool).
 */
const INVALID_CONFIG: ReadonlySet<ErrorCode> = new Set(['bad-request', 'unknown-pool', 'pool-draining'])

/**
 * A failure of an agent operation as a CNI error: anything that may succeed when repeated is 11 (try
 * again later: ADD is idempotent per attachment, DEL too), a request the agent calls bad or a pool it
 * does not serve or is draining is 7 (they came from the config or the args), everything else 999.
 * An agent the plugin cannot reach is the plugin's own answer (11), made on the host.
 */
export function agentErrorToCni (err: unknown): CniError {
  if (err instanceof CniError) return err
  if (err instanceof ApiError) {
    const details = `agent error ${err.code}`
    if (err.retryable) return new CniError(CniCode.tryAgainLater, err.message, details)
    if (INVALID_CONFIG.has(err.code)) return new CniError(CniCode.invalidConfig, err.message, details)
    return new CniError(CniCode.internal, err.message, details)
  }
  return new CniError(CniCode.internal, err instanceof Error ? `${err.name}: ${err.message}` : String(err))
}
