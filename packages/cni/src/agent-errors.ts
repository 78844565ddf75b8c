import { ApiError } from '@weft/protocol'
import { CniCode, CniError } from './errors.ts'

/**
 * A failure of an agent operation as a CNI error: anything that may succeed when repeated is 11 (try
 * again later: ADD is idempotent per attachment, DEL too), a request the agent calls bad, or a pool it does not
 * serve, is 7 (it came from the config or the args), everything else 999. An agent the plugin cannot reach is the plugin's
 * own answer (11), made on the host.
 */
export function agentErrorToCni (err: unknown): CniError {
  if (err instanceof CniError) return err
  if (err instanceof ApiError) {
    const details = `agent error ${err.code}`
    if (err.retryable) return new CniError(CniCode.tryAgainLater, err.message, details)
    if (err.code === 'bad-request' || err.code === 'unknown-pool') return new CniError(CniCode.invalidConfig, err.message, details)
    return new CniError(CniCode.internal, err.message, details)
  }
  return new CniError(CniCode.internal, err instanceof Error ? `${err.name}: ${err.message}` : String(err))
}
