/**
 * The socket's status and report bodies, and the metrics gauges, built from the core's status
 * snapshot plus what only the agent knows (mesh connections, bad messages, allocation metadata).
 * Pure functions of their inputs.
 */
import { addressAt, spansOf } from '@weft/ring'
import type { PeerStatus, RingState, Universe } from '@weft/ring'
import type { AllocationInfo, PeerLine, PoolStatus, ReportResponse, StatusResponse } from '@weft/protocol'
import type { GaugeSnapshot } from './metrics.ts'
import type { NodeSourceState } from './node-source.ts'
import type { StoredAllocation } from './store.ts'

export interface AgentFacts {
  readonly init: string
  readonly connections: number
  readonly badMessages: number
  /** The Node list's reader, when the agent reads it. */
  readonly kubernetes: NodeSourceState | null
}

/** One pool's status line: its name, whether it drains and is a default one, and its core's snapshot. */
export interface PoolFacts {
  readonly pool: string
  readonly draining: boolean
  readonly default: boolean
  readonly status: PeerStatus
}

/** The agent's status: the first pool's ring fields at the top (as before pools), every pool in `pools`. */
export function statusBody (pools: readonly PoolFacts[], facts: AgentFacts): StatusResponse {
  const lines = pools.map(p => poolStatus(p, facts))
  const first = lines[0]
  if (first === undefined) throw new Error('an agent serves at least one pool')
  const { pool: _pool, draining: _draining, default: _default, ...ring } = first
  return {
    peer: { id: pools[0]!.status.id, nickname: pools[0]!.status.nickname },
    ...ring,
    init: facts.init,
    connections: facts.connections,
    badMessages: facts.badMessages,
    pools: lines,
    ...(facts.kubernetes === null ? {} : { kubernetes: { api: facts.kubernetes.api, nodes: facts.kubernetes.nodes, error: facts.kubernetes.error } })
  }
}

function poolStatus ({ pool, draining, default: isDefault, status: s }: PoolFacts, facts: AgentFacts): PoolStatus {
  const peers: PeerLine[] = s.peers.map(p => ({
    id: p.peer,
    nickname: p.nickname,
    addresses: p.size.toString(),
    percentage: percent(p.size, s.universeSize),
    free: p.free.toString(),
    ...(p.self ? { active: s.allocated } : {}),
    reachable: p.reachable,
    local: p.self
  }))
  const kube = facts.kubernetes
  // Without a ring, an API that does not answer is what holds the agent up: say so first.
  const text = kube?.error != null && s.code !== 'ready' ? `${kube.error}; retrying (${s.text})` : s.text
  return {
    pool,
    status: s.code,
    statusText: text,
    range: s.range,
    rangeSize: s.universeSize.toString(),
    draining,
    default: isDefault,
    ...(s.quorum === null ? {} : { quorum: s.quorum, known: s.known }),
    peers,
    allocations: s.allocated,
    freeLocal: s.free.toString(),
    pendingAllocates: s.pendingAllocates,
    pendingClaims: s.pendingClaims,
    conflicts: s.conflicts
  }
}

export function reportBody (status: StatusResponse, u: Universe, ring: RingState, allocations: AllocationInfo[]): ReportResponse {
  const sizes = new Map<bigint, bigint>()
  for (const { entry, range } of spansOf(u.size, ring.entries)) sizes.set(entry.token, (sizes.get(entry.token) ?? 0n) + range.end - range.start)
  const entries = ring.entries.map(e => ({
    token: e.token.toString(),
    start: addressAt(u, e.token),
    owner: e.owner,
    version: e.version,
    free: e.free.toString(),
    size: (sizes.get(e.token) ?? 0n).toString()
  }))
  return {
    status,
    ring: { range: ring.universe, seeds: [...ring.seeds], entries, removed: ring.removed.map(r => ({ peer: r.peer, heir: r.heir })) },
    allocations
  }
}

export function allocationInfo (pool: string, u: Universe, { offset, payload: m }: StoredAllocation): AllocationInfo {
  return {
    network: m.network,
    containerId: m.containerId,
    ifname: m.ifname,
    pool,
    address: addressAt(u, offset),
    ...(m.podNamespace === undefined ? {} : { podNamespace: m.podNamespace }),
    ...(m.podName === undefined ? {} : { podName: m.podName }),
    allocatedAt: m.allocatedAt
  }
}

export function gauges (s: PeerStatus): GaugeSnapshot {
  const unreachable = s.peers.filter(p => !p.reachable)
  const unreachableSize = unreachable.reduce((n, p) => n + p.size, 0n)
  return {
    localUsed: s.allocated,
    maxIps: Number(s.universeSize),
    unreachableCount: unreachable.length,
    unreachablePercentage: percent(unreachableSize, s.universeSize),
    pendingAllocates: s.pendingAllocates,
    pendingClaims: s.pendingClaims
  }
}

/** Share of the whole, 0..100, to two decimals; exact for any size of range. */
function percent (part: bigint, whole: bigint): number {
  return whole === 0n ? 0 : Number((part * 10000n) / whole) / 100
}
