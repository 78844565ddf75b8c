/**
 * The ranges a peer may allocate from: the entries it owns outright. A removed peer's entries become
 * its heir's only once every known peer has acknowledged the removal; waiting for the acks means that
 * any grant the dead peer made, and any rival removal, has reached the heir before it hands out an
 * address there.
 */
import { IntervalSet } from './intervals.ts'
import type { Ring } from './ring.ts'
import type { PeerId, Range } from './types.ts'

/**
 * Ranges of entries this peer owns outright. Inherited entries count only once adopted, and a peer
 * adopts only when every removal that ends with it is settled (state.ts), so what a peer may use
 * never shrinks when it later hears of another peer that has not acknowledged yet.
 * `skipSettle` (a planted bug for the simulator) uses every inherited entry at once.
 */
export function usableRanges (ring: Ring, self: PeerId, skipSettle = false): Range[] {
  if (ring.isRemoved(self)) return []
  const set = new IntervalSet()
  for (const sp of ring.spans()) {
    if (skipSettle ? sp.owner === self : sp.entry.owner === self) set.add(sp.range)
  }
  return set.ranges()
}
