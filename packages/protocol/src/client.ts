import { AgentTimeoutError, AgentUnavailableError, ApiError, ProtocolError, UNAVAILABLE_CODES } from './errors.ts'
import { exchange } from './http1.ts'
import { API_PREFIX, ERROR_CODES } from './types.ts'
import type {
  AllocateRequest, AllocateResponse, AllocationsResponse, CheckRequest, CheckResponse, ErrorBody,
  GcRequest, GcResponse, PrimeResponse, ReleaseRequest, ReleaseResponse, ReportResponse, RetirePoolRequest, RetirePoolResponse, RmpeerRequest,
  RmpeerResponse, StatusResponse
} from './types.ts'

export interface ClientOptions {
  socketPath: string
  /** Bound on one whole request, connect to last byte. */
  timeoutMs?: number
}

/** One method per route of the agent's socket API. */
export interface Client {
  readonly socketPath: string
  allocate: (req: AllocateRequest) => Promise<AllocateResponse>
  release: (req: ReleaseRequest) => Promise<ReleaseResponse>
  check: (req: CheckRequest) => Promise<CheckResponse>
  gc: (req: GcRequest) => Promise<GcResponse>
  allocations: () => Promise<AllocationsResponse>
  status: () => Promise<StatusResponse>
  rmpeer: (req: RmpeerRequest) => Promise<RmpeerResponse>
  prime: () => Promise<PrimeResponse>
  retirePool: (req: RetirePoolRequest) => Promise<RetirePoolResponse>
  report: () => Promise<ReportResponse>
}

export const DEFAULT_TIMEOUT_MS = 30_000

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES)

export function createClient (options: ClientOptions): Client {
  const { socketPath } = options
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const get = <T>(route: string) => async (): Promise<T> => await call<T>(socketPath, timeoutMs, 'GET', route)
  const post = <Q, T>(route: string) => async (body: Q): Promise<T> => await call<T>(socketPath, timeoutMs, 'POST', route, body)
  return {
    socketPath,
    allocate: post('/allocate'),
    release: post('/release'),
    check: post('/check'),
    gc: post('/gc'),
    allocations: get('/allocations'),
    status: get('/status'),
    rmpeer: post('/rmpeer'),
    prime: async () => await post<object, PrimeResponse>('/prime')({}),
    retirePool: post('/pools/retire'),
    report: get('/report')
  }
}

async function call<T> (socketPath: string, timeoutMs: number, method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const path = API_PREFIX + route
  const payload = body === undefined ? undefined : JSON.stringify(body)
  let answer
  try {
    answer = await exchange(socketPath, method, path, payload, timeoutMs, () => new AgentTimeoutError(socketPath, path, timeoutMs))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw code !== undefined && UNAVAILABLE_CODES.has(code) ? new AgentUnavailableError(socketPath, code) : err
  }
  return decode<T>(answer.status, path, answer.body)
}

function decode<T> (status: number, path: string, text: string): T {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new ProtocolError(`agent answered ${path} with HTTP ${status} and a body that is not JSON: ${text.slice(0, 200)}`)
  }
  if (status >= 200 && status < 300) return json as T
  const error = (json as Partial<ErrorBody> | null)?.error
  if (error === undefined || typeof error.message !== 'string' || !KNOWN_CODES.has(error.code)) {
    throw new ProtocolError(`agent answered ${path} with HTTP ${status} without an error body: ${text.slice(0, 200)}`)
  }
  throw new ApiError(status, error.code, error.message, error.retryable === true)
}
