/** A plain snapshot of one peer for `weft status`, `status ipam` and metrics, with Weave's status words. */
import { nodeInitText } from './node-init.ts'
import { quorumOf } from './paxos.ts'
import type { PeerState } from './peer-state.ts'
import type { PeerId } from './types.ts'

/** The status words end to end: the socket API's `IpamStatus` mirrors this list (a test pins them). */
export const STATUS_CODES = ['idle', 'awaiting-consensus', 'priming', 'ready', 'waiting-for-space', 'all-unreachable', 'removed'] as const
export type StatusCode = typeof STATUS_CODES[number]

export interface PeerSummary {
  readonly peer: PeerId
  readonly nickname: string
  /** Addresses it effectively owns. */
  readonly size: bigint
  /** Its last gossiped free count. */
  readonly free: bigint
  readonly reachable: boolean
  readonly self: boolean
}

export interface PeerStatus {
  readonly id: PeerId
  readonly nickname: string
  readonly range: string
  readonly code: StatusCode
  /** Weave's words, e.g. "awaiting consensus (quorum: 2, known: 1)". */
  readonly text: string
  /** consensus=N only. */
  readonly quorum: number | null
  readonly known: number
  readonly universeSize: bigint
  /** This peer first, then the other owners by id. */
  readonly peers: readonly PeerSummary[]
  /** Addresses this peer owns and may allocate from, free ones, and allocations held. */
  readonly size: bigint
  readonly free: bigint
  readonly allocated: number
  readonly pendingAllocates: number
  readonly pendingClaims: number
  readonly conflicts: number
  readonly removedBy: PeerId | null
}

export function statusOf (s: PeerState): { code: StatusCode, text: string } {
  const known = 1 + s.reachable.size
  if (s.removedBy !== null) return { code: 'removed', text: s.removedBy === s.id ? 'removed from the ring (the removal was compacted away: the heir is no longer named)' : `removed from the ring by ${s.removedBy}` }
  if (s.ring.isEmpty()) {
    if (s.init.kind === 'kubernetes') return { code: 'awaiting-consensus', text: nodeInitText(s, s.nodeInit) }
    if (s.init.kind === 'consensus' && s.initState.neededSince !== null) {
      return { code: 'awaiting-consensus', text: `awaiting consensus (quorum: ${quorumOf(s.init.count)}, known: ${known})` }
    }
    if (s.init.kind === 'consensus') return { code: 'idle', text: 'idle' }
    return { code: 'priming', text: 'priming' }
  }
  if (s.allocation.pending.length > 0 && s.space.freeCount() === 0n) {
    const others = s.ring.owners().filter(p => p !== s.id)
    if (others.length > 0 && others.every(p => !s.reachable.has(p))) {
      return { code: 'all-unreachable', text: "all IP ranges owned by unreachable peers - use 'rmpeer' if they are dead" }
    }
    return { code: 'waiting-for-space', text: 'waiting for IP(s) to become available' }
  }
  return { code: 'ready', text: 'ready' }
}

export function peerStatus (s: PeerState): PeerStatus {
  const { code, text } = statusOf(s)
  const holdings = s.ring.holdings(s.hints)
  const owners = new Set(holdings.keys())
  owners.delete(s.id)
  const summary = (p: PeerId): PeerSummary => ({
    peer: p,
    nickname: s.ring.member(p)?.nickname ?? (p === s.id ? s.nickname : ''),
    size: holdings.get(p)?.size ?? 0n,
    free: p === s.id ? s.space.freeCount() : holdings.get(p)?.free ?? 0n,
    reachable: p === s.id || s.reachable.has(p),
    self: p === s.id
  })
  return {
    id: s.id,
    nickname: s.nickname,
    range: s.universe.cidr,
    code,
    text,
    quorum: s.init.kind === 'consensus' ? quorumOf(s.init.count) : null,
    known: 1 + s.reachable.size,
    universeSize: s.universe.size,
    // holdings() is in peer id order already.
    peers: [summary(s.id), ...[...owners].map(summary)],
    size: s.space.ownedCount(),
    free: s.space.freeCount(),
    allocated: s.allocation.allocations.size,
    pendingAllocates: s.allocation.pending.filter(p => p.address === null).length,
    pendingClaims: s.allocation.pending.filter(p => p.address !== null).length,
    conflicts: s.conflicts,
    removedBy: s.removedBy
  }
}
