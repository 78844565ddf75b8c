/**
 * Keeping this peer's ring: absorbing a received one, reacting to a change (persist, own records,
 * adoption, the space), and telling whether anyone may be behind. Every part shares it.
 */
import type { Core } from './core.ts'
import { InvariantError } from './errors.ts'
import { usableRanges } from './owned.ts'
import { statesEqual } from './shape.ts'
import type { Entry, PeerId, RingState } from './types.ts'

export function snapshot (s: Core): RingState {
  s.snap ??= s.ring.toState()
  return s.snap
}

/**
 * Merges a received ring. A ring that fails validation, or was seeded by another decision, changes
 * nothing and is recorded as `rejected-ring`. Returns whether it was accepted.
 */
export function absorbRing (s: Core, from: PeerId, incoming: RingState): boolean {
  // Most gossip repeats what this peer has; a cheap comparison spares the merge.
  if (incoming === s.snap || statesEqual(incoming, snapshot(s))) {
    s.synced.set(from, snapshot(s))
    return true
  }
  let result
  try {
    const state = s.faults.mineWinsTies === true ? mineWinsTies(s.ring.entries(), incoming) : incoming
    result = s.ring.merge(state, s.id, r => s.space.hasAllocationsIn(r), from)
  } catch (e) {
    s.out.events.push({ kind: 'rejected-ring', from, reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
    return false
  }
  for (const c of result.conflicts) s.out.events.push(c)
  s.conflicts += result.conflicts.length
  if (result.changed) ringChanged(s, false)
  if (statesEqual(incoming, snapshot(s))) s.synced.set(from, snapshot(s))
  else s.synced.delete(from)
  return true
}

function mineWinsTies (local: readonly Entry[], incoming: RingState): RingState {
  const mine = new Map(local.map(e => [e.token, e]))
  const entries = incoming.entries.map(e => {
    const m = mine.get(e.token)
    return m !== undefined && m.version === e.version ? m : e
  })
  return { ...incoming, entries }
}

/**
 * Anti-entropy is needed only if some reachable peer may not hold exactly our ring: one whose last
 * ring to us was different, or was the same before our ring changed. A quiet cluster sends nothing.
 */
export function anyoneBehind (s: Core): boolean {
  const mine = snapshot(s)
  for (const p of s.reachable) if (s.synced.get(p) !== mine) return true
  return false
}

/**
 * After any change to the ring: persist it, keep this peer's member record and acks, adopt settled
 * inheritances, stop if this peer was removed, and bring the space in line. Gossip it only if this
 * peer changed something itself: what a merge brought in, its sender has broadcast already, and
 * re-broadcasting every merge would cost every peer's change a message per pair of peers.
 */
export function ringChanged (s: Core, local = true): void {
  s.out.ringDirty = true
  if (local) s.out.gossip = true
  s.snap = null
  s.mutations++
  const heir = s.ring.isRemoved(s.id) ? s.ring.effectiveOwner(s.id) : null
  if (heir !== null) {
    if (s.removedBy === null) {
      s.removedBy = heir
      s.out.events.push({ kind: 'removed-self', heir })
    }
    return
  }
  if (!s.ring.isEmpty()) {
    const own = [s.ring.setMember(s.id, s.nickname, s.address), s.ring.ackRemovals(s.id), allInheritancesSettled(s) && s.ring.adopt(s.id)]
    if (own.some(Boolean)) s.out.gossip = true
    s.snap = null
  }
  const lost = s.space.setOwned(usableRanges(s.ring, s.id, s.faults.heirSkipsSettle === true))
  if (lost.length > 0) throw new InvariantError(`${s.id}: ring change took ${lost.length} allocated addresses, e.g. offset ${lost[0]}`)
}

/** Whether every removal whose ranges end with this peer is acknowledged by every member. */
function allInheritancesSettled (s: Core): boolean {
  return s.ring.removals().every(r => s.ring.effectiveOwner(r.peer) !== s.id || s.ring.settled(r.peer))
}
