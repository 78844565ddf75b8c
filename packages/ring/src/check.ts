/** A peer's invariants: the ring's and the space's own, and that ring, space and allocations agree. */
import { InvariantError } from './errors.ts'
import { IntervalSet } from './intervals.ts'
import { usableRanges } from './owned.ts'
import type { PeerState } from './peer-state.ts'

/** The ring's and space's own invariants, and that the two agree. Cheap enough to run after every call. */
export function checkPeer (s: PeerState): Error | null {
  const e = s.ring.checkInvariants() ?? s.space.checkInvariants()
  if (e !== null) return e
  if (s.removedBy !== null) return null
  const usable = IntervalSet.of(usableRanges(s.ring, s.id, s.faults.heirSkipsSettle === true))
  if (!usable.equals(IntervalSet.of(s.space.owned()))) return new InvariantError(`${s.id}: space owns other ranges than the ring gives it`)
  if (usable.minus(IntervalSet.of(s.ring.rangesOf(s.id))).count() !== 0n) return new InvariantError(`${s.id}: uses ranges the ring gives to others`)
  if (s.allocation.allocations.size !== s.space.allocatedCount()) return new InvariantError(`${s.id}: ${s.allocation.allocations.size} allocations but ${s.space.allocatedCount()} allocated offsets`)
  for (const [key, { offset: o }] of s.allocation.allocations) {
    if (!s.space.isAllocated(o)) return new InvariantError(`${s.id}: allocation ${key} at ${o} is not marked allocated`)
    if (!usable.has(o)) return new InvariantError(`${s.id}: allocation ${key} at ${o} lies outside its ranges`)
  }
  return null
}
