/**
 * The agent's unix-socket API, spoken as HTTP/1.1 + JSON (so `curl --unix-socket` works).
 * Every route is under /v1. Address counts are decimal strings: an IPv6 range does not fit a JSON number.
 */

/** A container and the interface inside it: what a CNI runtime names within one network. */
export interface ContainerInterface {
  containerId: string
  ifname: string
}

/**
 * An attachment is what CNI keys an allocation by: the network (the CNI config's `name`), the
 * container and the interface inside it. The same container and interface on two networks are two
 * attachments. Each part is checked by `fieldProblem` (attachment.ts).
 */
export interface Attachment extends ContainerInterface {
  network: string
}

/**
 * POST /v1/allocate. Idempotent per attachment: a repeated request returns the same addresses.
 * All or nothing: when any pool asked for cannot serve, the answer is the error and the attachment
 * holds nothing from the others.
 */
export interface AllocateRequest extends Attachment {
  podNamespace?: string
  podName?: string
  /** The pools to take one address from each (pool names, see pool-name.ts). Absent: the default pools, one address per family. */
  pools?: string[]
  /**
   * Specific addresses wanted (the CNI `ips` capability, `args.cni.ips`, `CNI_ARGS IP=`): at most
   * one per pool asked for, each inside one of them.
   */
  addresses?: string[]
  /** Also answer this node's gateway of the network in every pool (`PoolAddress.gateway`), reserved the first time. */
  gateway?: boolean
}

/** One address of an attachment, from one pool. */
export interface PoolAddress {
  pool: string
  /** The address alone, e.g. "10.32.0.5" or "fd00::5". */
  address: string
  /** The prefix length of the pool's whole range (the result's CIDR is `${address}/${prefixLength}`). */
  prefixLength: number
  /** The pool's whole range, e.g. "10.32.0.0/12". */
  range: string
  /**
   * This node's gateway of the network in this pool (the pod bridge's address): one address per node,
   * network and pool, from this agent's own space, that no pod ever gets. Answered by allocate when
   * asked for (`gateway: true`), by check whenever the network has one on this node.
   */
  gateway?: string
}

export interface AllocateResponse {
  /** One per pool asked for, in the request's order. */
  addresses: PoolAddress[]
}

/** POST /v1/release: frees the attachment's address in every pool. Idempotent: an unknown attachment answers `released: []`. */
export type ReleaseRequest = Attachment
export interface ReleaseResponse {
  /** Every address released. */
  released: string[]
}

/** POST /v1/check: 200 with the addresses if the attachment holds any, else error `unknown-attachment`. */
export type CheckRequest = Attachment
export type CheckResponse = AllocateResponse

/** POST /v1/gc: release every allocation (every pool's) of `network` whose attachment is not listed; other networks' are untouched. */
export interface GcRequest {
  network: string
  /** The network's attachments to keep. */
  valid: ContainerInterface[]
}
export interface GcResponse {
  released: AllocationInfo[]
}

export interface AllocationInfo extends Attachment {
  pool: string
  address: string
  podNamespace?: string
  podName?: string
  /** Milliseconds since the epoch when the allocation was made. */
  allocatedAt: number
}

/** GET /v1/allocations */
export interface AllocationsResponse {
  allocations: AllocationInfo[]
}

/**
 * Weave's status words, as machine-readable codes; `StatusResponse.statusText` has the human line.
 * The core's `STATUS_CODES`, mirrored (the protocol depends on nothing; a test pins the two lists).
 * `removed`: this peer's ranges were taken over (rmpeer); it serves nothing until its data dir is wiped.
 */
export const IPAM_STATUSES = ['idle', 'awaiting-consensus', 'priming', 'ready', 'waiting-for-space', 'all-unreachable', 'removed'] as const
export type IpamStatus = typeof IPAM_STATUSES[number]

export interface PeerLine {
  id: string
  nickname: string
  /** Addresses this peer owns, as a decimal string. */
  addresses: string
  /** Share of the whole range, 0..100. */
  percentage: number
  /** Free addresses, decimal: exact for the local peer, the last gossiped count for the others. */
  free: string
  /** Allocations in use: known only for the local peer. */
  active?: number
  reachable: boolean
  local: boolean
}

/** One pool's ring as this agent sees it: `StatusResponse.pools`. */
export interface PoolStatus {
  pool: string
  status: IpamStatus
  statusText: string
  range: string
  /** Total addresses in the range, decimal string. */
  rangeSize: string
  /** Taking no new allocations; its holders keep their addresses. */
  draining: boolean
  /** An allocation that names no pool takes one address from each default pool. */
  default: boolean
  quorum?: number
  known?: number
  /** Local first, then the others sorted by peer id. */
  peers: PeerLine[]
  allocations: number
  freeLocal: string
  pendingAllocates: number
  pendingClaims: number
  conflicts: number
}

/**
 * GET /v1/status. The top-level ring fields are the first pool's (IPALLOC_RANGE's first CIDR, pool
 * `default`); `pools` has every pool, that one first.
 */
export interface StatusResponse {
  peer: { id: string, nickname: string }
  status: IpamStatus
  /** Weave's words, e.g. "awaiting consensus (quorum: 2, known: 1)". */
  statusText: string
  range: string
  /** Total addresses in the range, decimal string. */
  rangeSize: string
  init: string
  quorum?: number
  known?: number
  /** Local first, then the others sorted by peer id. */
  peers: PeerLine[]
  connections: number
  allocations: number
  freeLocal: string
  pendingAllocates: number
  pendingClaims: number
  conflicts: number
  badMessages: number
  /** Every pool this agent serves, in its configuration's order. */
  pools: PoolStatus[]
  /** Present when the agent reads the Kubernetes Node list. */
  kubernetes?: KubernetesStatus
}

/** The agent's reading of the Kubernetes Node list. */
export interface KubernetesStatus {
  /** The API server's URL. */
  api: string
  /** Nodes in the last full listing; null before the first. */
  nodes: number | null
  /** Why the last listing failed (naming the URL); null when it did not. */
  error: string | null
}

/** POST /v1/rmpeer: take over a dead peer's ranges, decided with a strict majority through the mesh. */
export interface RmpeerRequest {
  /** A peer id or a nickname. */
  peer: string
  /**
   * Decide alone, without a vote: for a cluster that lost half its peers or more for good, where
   * no majority can ever answer. Only for a peer that is really gone, and from one agent only.
   */
  force?: boolean
}
export interface RmpeerResponse {
  peer: string
  nickname: string
  /** Addresses taken over, decimal string. */
  takenOver: string
}

/**
 * POST /v1/pools/retire: removes a drained pool's ring state from every agent. Refused
 * (`pool-in-use`) while any agent still holds addresses in it (naming them), does not drain it, or
 * does not answer; the node gateways of the pool go with it.
 */
export interface RetirePoolRequest {
  pool: string
}
export interface RetirePoolResponse {
  pool: string
  /** The agents of the pool's ring that dropped it, this one included. */
  agents: number
}

/** POST /v1/prime: wait (bounded) until the ring exists; starts consensus if it has not started. */
export type PrimeResponse = StatusResponse

/** GET /v1/report: everything, for humans and scripts. */
export interface ReportResponse {
  status: StatusResponse
  ring: {
    range: string
    seeds: string[]
    entries: Array<{ token: string, start: string, owner: string, version: number, free: string, size: string }>
    removed: Array<{ peer: string, heir: string }>
  }
  allocations: AllocationInfo[]
}

/**
 * POST /v1/cni: one CNI invocation as the plugin on the host received it, run by the agent's CNI
 * library. The plugin waits at most `deadlineMs`; the agent answers before that, with its reason.
 */
export interface CniRequest {
  /** The CNI_* variables. */
  env: Record<string, string>
  /** The network configuration, as the runtime wrote it. */
  stdin: string
  deadlineMs?: number
}
/** What the plugin prints (`output` as one JSON line; nothing for null) and the status it exits with. */
export interface CniResponse {
  exitCode: number
  output: Record<string, unknown> | null
}

/** Every error code the agent answers with; the client refuses any other as a protocol error. */
export const ERROR_CODES = [
  'bad-request',
  'payload-too-large',
  'not-found',
  'unknown-attachment',
  'not-ready',
  'exhausted',
  'address-unavailable',
  'no-quorum',
  'unknown-peer',
  'peer-alive',
  /** A pool this agent does not serve; the message names it. CNI code 7. */
  'unknown-pool',
  /** The pool is draining: its holders keep their addresses, nobody gets a new one. */
  'pool-draining',
  /** A pool cannot be retired yet: the message says who holds addresses in it, or why else. */
  'pool-in-use',
  'shutting-down',
  'internal'
] as const
export type ErrorCode = typeof ERROR_CODES[number]

/** Every non-2xx answer has this body. */
export interface ErrorBody {
  error: {
    code: ErrorCode
    message: string
    /** True when the same request may succeed later (CNI code 11). */
    retryable: boolean
  }
}

export const API_PREFIX = '/v1'
export const MAX_REQUEST_BYTES = 64 * 1024
/** /v1/cni carries a whole network configuration (a GC lists every attachment of the node). */
export const MAX_CNI_REQUEST_BYTES = 4 * 1024 * 1024
export const DEFAULT_SOCKET = '/run/weft/weft.sock'
