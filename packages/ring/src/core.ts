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
import type { InitMode, PeerId, RingState } from './types.ts'

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
  /** Set when this peer learns it was removed: the heir. It then does nothing more. */
  removedBy: PeerId | null
  conflicts: number
  out: Outbox
  /** Peer -> our ring (the cached object) at the time that peer sent us exactly the same ring. */
  readonly synced: Map<PeerId, RingState>
  /** Counts changes to ring, space and allocations, so checks run only after something changed. */
  mutations: number
  /** The ring as data, cached until the next change: gossip and merges compare against it often. */
  snap: RingState | null
}
