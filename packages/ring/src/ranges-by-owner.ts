/** Who acts for which addresses in a ring state: what other nodes route to each peer. */
import type { Universe } from './address.ts'
import { IntervalSet } from './intervals.ts'
import { Ring } from './ring.ts'
import type { PeerId, Range, RingState } from './types.ts'

/**
 * Each effective owner's ranges (a removed peer's go to its heir), merged and in address order;
 * the state is validated first, as any ring from outside the core.
 */
export function rangesByOwner (u: Universe, s: RingState): Map<PeerId, Range[]> {
  const sets = new Map<PeerId, IntervalSet>()
  for (const sp of Ring.fromState(u, s).spans()) {
    let set = sets.get(sp.owner)
    if (set === undefined) sets.set(sp.owner, set = new IntervalSet())
    set.add(sp.range)
  }
  return new Map([...sets].map(([peer, set]) => [peer, set.ranges()]))
}
