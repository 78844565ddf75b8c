/**
 * What every part of a peer shares: who it is, how it is tuned, the ring and its space, the time,
 * who is reachable, and the outbox. Each part (allocation, donation, init, node-init, takeover,
 * voting) keeps its own state beside this and is handed only its own.
 */
import type { Universe } from './address.ts'
import type { Faults, Timeouts } from './config.ts'
import type { Outbox } from './outbox.ts'
import type { Ring } from './ring.ts'
import type { Space } from './space.ts'
import type { Digest, InitMode, Message, PeerId, RingDelta, RingState } from './types.ts'

export interface Core {
  readonly id: PeerId
  readonly nickname: string
  readonly address: string | undefined
  readonly universe: Universe
  readonly init: InitMode
  readonly random: () => number
  readonly t: Timeouts
  readonly faults: Faults
  readonly ring: Ring
  readonly space: Space
  reachable: Set<PeerId>
  now: number
  /**
   * Set when this peer learns it was removed: the heir, or its own id when the removal was compacted
   * away and its record below the floor told it (README, "Compaction"). It then does nothing more.
   */
  removedBy: PeerId | null
  /**
   * A whole ring raised this peer's floor without a record of it while it owned space or held
   * allocations: the raiser did not know it, so it was removed (README, "Compaction").
   */
  unnamed: boolean
  /**
   * This peer owned space or held allocations after the last ring change: whether it held anything
   * before the change now being handled (a peer given its first space is born at the grant's level).
   */
  held: boolean
  conflicts: number
  out: Outbox
  /**
   * The peers that told us (a digest, a whole ring) they hold exactly our ring, while our ring is
   * still `of` (the cached object): a change of ours makes every one of them unknown again at once.
   */
  synced: { of: RingState | null, peers: Set<PeerId> }
  /**
   * The peers our digest of `of` went to (a round, a greeting, an answer) that have stayed reachable
   * since and have not asked for it again: an ask from one of them needs no answer (ring-sync.ts).
   */
  told: { of: RingState | null, peers: Set<PeerId> }
  /** Counts changes to ring, space and allocations, so checks run only after something changed. */
  mutations: number
  /** The ring as data, cached until the next change: gossip and merges compare against it often. */
  snap: RingState | null
  /** The digest of `snap`, computed once per state, and the two digest messages carrying it. */
  dig: { readonly of: RingState, readonly digest: Digest, readonly ask: Message, readonly answer: Message } | null
  /** The floor this peer raised since its last delta, and the digest of the ring it raised it on: the next delta names that ring. */
  raised: { readonly floor: number, readonly from: Digest } | null
  /** The ring as of the last delta broadcast (or the last merge since): the next delta is what changed after it. */
  lastSent: RingState
  /**
   * This peer changed its ring: from this tick on it asks for digests, every `gossip` ticks, until
   * every reachable peer holds its ring. Null: nothing to announce.
   */
  announceAt: number | null
  /** The due round only confirms changes sent as deltas: it may wait for the ring to rest (ring-sync.ts). */
  roundWaits: boolean
  /** Rounds sent since the ring last changed (or a peer was greeted): each repeat waits twice as long (ring-sync.ts). */
  repeats: number
  /** The tick of the last change to the ring, own or merged. */
  changedAt: number
  /** The whole ring asked of one peer, until an answer or the deadline. */
  pulling: { readonly from: PeerId, readonly deadline: number } | null
  /** Deltas that arrived before this peer had a ring (the last few): merged once it has one. */
  readonly early: Array<{ readonly from: PeerId, readonly delta: RingDelta }>
  /** A peer found ahead while a pull was out: pulled from next. */
  ahead: PeerId | null
  /** Other peers' last reported free counts: hints for choosing donors, outside the ring. */
  readonly hints: Map<PeerId, bigint>
  /** This peer's free count as last reported. */
  reported: bigint | null
}
