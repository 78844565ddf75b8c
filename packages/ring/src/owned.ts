/**
 * The ranges a peer may allocate from: those the ring gives it, less ranges inherited from a removed
 * peer whose removal not every known peer has acknowledged yet. Waiting for the acks means that any
 * grant the dead peer made, and any rival removal, has reached the heir before it hands out an
 * address there.
 *
 * Known peers are members, seeds and entry owners: a peer that has only just joined may know few
 * members, but every ring names its seeds and owners, so views of who votes and who must ack overlap.
 */
import { IntervalSet } from './intervals.ts'
import type { Ring } from './ring.ts'
import type { PeerId, Range } from './types.ts'

/** Every peer this ring names that is not removed. */
export function knownPeers (ring: Ring): PeerId[] {
  const all = new Set<PeerId>([...ring.members().map(m => m.peer), ...ring.seeds(), ...ring.entries().map(e => e.owner)])
  return [...all].filter(p => !ring.isRemoved(p)).sort()
}

/** `dead`'s removal is decided and every known peer but its heir has acknowledged it. */
export function settled (ring: Ring, dead: PeerId): boolean {
  if (!ring.settled(dead)) return false
  const heir = ring.effectiveOwner(dead)
  return knownPeers(ring).every(p => p === heir || p === dead || (ring.member(p)?.acks.includes(dead) ?? false))
}

export function usableRanges (ring: Ring, self: PeerId, skipSettle = false): Range[] {
  const entries = ring.entries()
  const heirs = new Map(ring.removals().map(r => [r.peer, r.heir]))
  const settledChain = new Map<PeerId, boolean>()
  const usable = (owner: PeerId): boolean => {
    if (owner === self || skipSettle) return true
    let known = settledChain.get(owner)
    if (known === undefined) {
      known = true
      // Walk owner -> heir -> ... -> self; bounded by the number of removals.
      for (let p: PeerId | undefined = owner, steps = 0; p !== undefined && p !== self && steps <= heirs.size; p = heirs.get(p), steps++) {
        if (!settled(ring, p)) { known = false; break }
      }
      settledChain.set(owner, known)
    }
    return known
  }
  const set = new IntervalSet()
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    if (ring.effectiveOwner(e.owner) !== self || !usable(e.owner)) continue
    const end = i + 1 < entries.length ? entries[i + 1]!.token : ring.universe.size
    set.add({ start: e.token, end })
    if (i === entries.length - 1 && entries[0]!.token > 0n) set.add({ start: 0n, end: entries[0]!.token })
  }
  return set.ranges()
}
