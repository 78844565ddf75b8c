/**
 * The socket API's routes (packages/protocol/src/types.ts is the contract): each validates its body,
 * then calls the agent. Also maps the core's errors onto the API's codes and HTTP statuses.
 */
import { API_PREFIX, ApiError, MAX_CNI_REQUEST_BYTES } from '@weft/protocol'
import type {
  AllocateResponse, AllocationsResponse, CheckResponse, ErrorCode, GcResponse, PrimeResponse, ReleaseResponse,
  ReportResponse, RetirePoolRequest, RetirePoolResponse, RmpeerRequest, RmpeerResponse, StatusResponse
} from '@weft/protocol'
import type { CoreError, CoreErrorCode } from '@weft/ring'
import { runCni } from './cni.ts'
import type { PoolCatalog } from './pool.ts'
import type { Route } from './server.ts'
import { checkAllocate, checkAttachment, checkCni, checkGc, checkPrime, checkRetirePool, checkRmpeer } from './validate.ts'
import type { CheckedAllocate, CheckedAttachment, CheckedGc } from './validate.ts'

/** What the routes need from the agent. */
export interface AgentOps {
  readonly pools: PoolCatalog
  /** `withinMs` bounds the wait below the agent's own request timeout (a plugin's deadline). */
  allocate: (req: CheckedAllocate, withinMs?: number) => Promise<AllocateResponse>
  release: (a: CheckedAttachment, withinMs?: number) => Promise<ReleaseResponse>
  check: (a: CheckedAttachment) => CheckResponse
  gc: (req: CheckedGc, withinMs?: number) => Promise<GcResponse>
  allocations: () => AllocationsResponse
  status: () => StatusResponse
  report: () => ReportResponse
  rmpeer: (req: Required<RmpeerRequest>) => Promise<RmpeerResponse>
  prime: () => Promise<PrimeResponse>
  retirePool: (req: RetirePoolRequest) => Promise<RetirePoolResponse>
}

export function routes (ops: AgentOps): Route[] {
  const post = (path: string, handle: (body: unknown) => Promise<unknown>): Route => ({ method: 'POST', path: API_PREFIX + path, handle })
  const get = (path: string, read: () => unknown): Route => ({ method: 'GET', path: API_PREFIX + path, handle: async () => read() })
  return [
    // Not an async function: on every allocation's path (a validation error is thrown, and answered as a rejection is).
    post('/allocate', body => ops.allocate(checkAllocate(body, ops.pools))),
    post('/release', async body => await ops.release(checkAttachment(body))),
    post('/check', async body => ops.check(checkAttachment(body))),
    post('/gc', async body => await ops.gc(checkGc(body))),
    post('/rmpeer', async body => await ops.rmpeer(checkRmpeer(body))),
    post('/prime', async body => { checkPrime(body); return await ops.prime() }),
    post('/pools/retire', async body => await ops.retirePool(checkRetirePool(body))),
    { ...post('/cni', async body => await runCni(ops, checkCni(body))), maxBytes: MAX_CNI_REQUEST_BYTES },
    get('/allocations', () => ops.allocations()),
    get('/status', () => ops.status()),
    get('/report', () => ops.report())
  ]
}

const CORE_ERRORS: Record<CoreErrorCode, { status: number, code: ErrorCode }> = {
  'not-ready': { status: 503, code: 'not-ready' },
  exhausted: { status: 503, code: 'exhausted' },
  'address-unavailable': { status: 409, code: 'address-unavailable' },
  'no-quorum': { status: 503, code: 'no-quorum' },
  'unknown-peer': { status: 404, code: 'unknown-peer' },
  'peer-alive': { status: 409, code: 'peer-alive' },
  // This peer was taken over by another: it serves nothing more and is stopping.
  removed: { status: 503, code: 'shutting-down' }
}

export function apiErrorOf (e: CoreError): ApiError {
  const { status, code } = CORE_ERRORS[e.code]
  return new ApiError(status, code, e.message, e.retryable)
}
