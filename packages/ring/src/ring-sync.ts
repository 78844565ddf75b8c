/**
 * Keeping this peer's ring: absorbing what others send (a delta, a whole ring, a digest, a hint),
 * reacting to a change (persist, own records, adoption, the space), and anti-entropy. A change is
 * broadcast as a delta by the peer that made it; the whole ring goes only to a peer that asks for it
 * (`pull`), because a digest told it that it is behind, or that is removed or has no ring.
 */
import type { Core } from './core.ts'
import { DifferentSeedsError, InvariantError } from './errors.ts'
import { usableRanges } from './owned.ts'
import { deltaOf, digestOf, emptyDelta, sameDigest, seedsFingerprint } from './ring-digest.ts'
import { runsOf } from './runs.ts'
import { statesEqual } from './shape.ts'
import type { Digest, Entry, Hint, Message, PeerId, RingDelta, RingPart, RingState } from './types.ts'

export function snapshot (s: Core): RingState {
  s.snap ??= s.ring.toState()
  return s.snap
}

export function digest (s: Core): Digest {
  return digestOfSnapshot(s).digest
}

/**
 * Our digest as a message (`reply`: asking for the receiver's), one object per ring state: a
 * greeting or an answer to many peers is then one message, as a broadcast is.
 */
function digestMessage (s: Core, reply: boolean): Message {
  const d = digestOfSnapshot(s)
  return reply ? d.ask : d.answer
}

function digestOfSnapshot (s: Core): NonNullable<Core['dig']> {
  const snap = snapshot(s)
  if (s.dig?.of !== snap) {
    const digest = digestOf(snap, s.universe.size)
    s.dig = { of: snap, digest, ask: { type: 'digest', digest, reply: true }, answer: { type: 'digest', digest, reply: false } }
  }
  return s.dig
}

/** Whether `p` told us it holds exactly `ring`, our ring now. */
const isSynced = (s: Core, p: PeerId, ring: RingState): boolean => s.synced.of === ring && s.synced.peers.has(p)

/** `p` holds exactly our ring now. One set for the ring it holds: when ours changes, it starts afresh. */
function markSynced (s: Core, p: PeerId): void {
  const ring = snapshot(s)
  if (s.synced.of !== ring) s.synced = { of: ring, peers: new Set() }
  s.synced.peers.add(p)
}

function unmarkSynced (s: Core, p: PeerId): void {
  s.synced.peers.delete(p)
}

/** Our digest of `ring` went to `peers` (what we told of a ring we no longer hold does not matter). */
function markTold (s: Core, ring: RingState, peers: Iterable<PeerId>): void {
  if (ring !== snapshot(s)) return
  if (s.told.of !== ring) s.told = { of: ring, peers: new Set() }
  for (const p of peers) s.told.peers.add(p)
}

/**
 * `p` went out of reach: what we told it may be gone with it (it may come back from a restart), so
 * its next ask is answered.
 */
export function outOfReach (s: Core, p: PeerId): void {
  s.told.peers.delete(p)
}

/** The whole ring, with every hint this peer knows (its own as of now). */
export function wholeRing (s: Core): Message {
  const hints: Hint[] = [...s.hints].filter(([p]) => p !== s.id).map(([peer, free]) => ({ peer, free }))
  if (!s.ring.isEmpty() && s.removedBy === null) hints.push({ peer: s.id, free: s.space.freeCount() })
  return { type: 'ring', ring: snapshot(s), hints }
}

/**
 * Merges a received ring or part of one (`raisedFrom`: the digest of the ring a part's floor was
 * raised on). A ring that fails validation, or was seeded by another decision, changes nothing and
 * is recorded as `rejected-ring`. Returns whether it was accepted.
 */
function merge (s: Core, from: PeerId, incoming: RingState | RingPart, raisedFrom?: Digest): boolean {
  if (incoming.floor < s.ring.floor()) {
    // A ring from before our floor may carry what the floor compacted away (a removed peer's own
    // writes, its record): the sender takes our ring first, and is heard once it holds our floor.
    s.out.send(from, wholeRing(s))
    return false
  }
  let unnamed = false
  if (incoming.floor > s.ring.floor()) {
    // A floor comes only with every record its raiser knew: in a whole ring, or in a delta raised on
    // exactly the ring this peer holds (which every known peer held then), so raising it here is what
    // the raiser did. A record below the floor is then never a live known peer's that is merely late,
    // and a floor that comes without naming us comes from a raiser that did not know us.
    const whole = 'entries' in incoming
    if (!whole && (raisedFrom === undefined || !sameDigest(raisedFrom, digest(s)))) {
      pull(s, from)
      return false
    }
    // Only a peer that held something counts: an observer unknown to the raiser just stamps itself.
    unnamed = !(whole ? incoming.members.some(m => m.peer === s.id) : s.ring.member(s.id) !== undefined) && s.held
  }
  let result
  try {
    const part: RingPart = 'runs' in incoming ? incoming : { ...incoming, runs: runsOf(incoming.entries, s.universe.size) }
    const tied = s.faults.mineWinsTies === true ? mineWinsTies(s.ring.entries(), s.universe.size, part) : part
    result = s.ring.mergePart(tied, s.id, r => s.space.hasAllocationsIn(r), from)
  } catch (e) {
    reject(s, from, e)
    return false
  }
  if (unnamed) s.unnamed = true
  for (const c of result.conflicts) s.out.events.push(c)
  s.conflicts += result.conflicts.length
  if (result.changed) ringChanged(s, false)
  return true
}

function reject (s: Core, from: PeerId, e: unknown): void {
  s.out.events.push({ kind: 'rejected-ring', from, reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
}

/**
 * A whole ring (an answer to a pull, or what a peer sends one it thinks removed). If it holds less
 * than ours, its sender is behind: our digest tells it so. Hints fill in what we have not heard.
 */
export function absorbRing (s: Core, from: PeerId, incoming: RingState, hints: readonly Hint[] = []): boolean {
  if (s.pulling?.from === from) s.pulling = null
  // Most whole rings repeat what this peer has; a cheap comparison spares the merge.
  const same = incoming === s.snap || statesEqual(incoming, snapshot(s))
  const before = snapshot(s)
  if (!same && !merge(s, from, incoming)) return false
  if (before.seeds.length === 0 && !s.ring.isEmpty()) mergeEarly(s)
  // What a whole ring brought in, nobody may be broadcasting any more (a peer back from a crash):
  // this peer asks everyone's digest until all hold it.
  if (snapshot(s) !== before) announce(s)
  for (const h of hints) if (h.peer !== s.id && (h.peer === from || !s.hints.has(h.peer))) s.hints.set(h.peer, h.free)
  if (same || statesEqual(incoming, snapshot(s))) {
    markSynced(s, from)
    maybeAdopt(s)
  } else {
    unmarkSynced(s, from)
    if (s.removedBy === null) {
      s.out.send(from, digestMessage(s, false))
      markTold(s, snapshot(s), [from])
    }
  }
  return true
}

/** Deltas kept from before the ring came: enough for the member records that follow a first split. */
const EARLY_DELTAS = 64

/**
 * A delta: merged if it belongs to this ring. A peer without a ring asks for the whole one, and
 * keeps the delta to merge once the ring is there (it may be newer than the ring it gets).
 */
export function absorbDelta (s: Core, from: PeerId, d: RingDelta): boolean {
  if (s.ring.isEmpty() && d.part.seeds.length === 0) {
    if (s.early.length >= EARLY_DELTAS) s.early.shift()
    s.early.push({ from, delta: d })
    pull(s, from)
    return false
  }
  const had = !s.ring.isEmpty()
  const ok = mergeDelta(s, from, d)
  if (!had && !s.ring.isEmpty()) mergeEarly(s)
  return ok
}

function mergeEarly (s: Core): void {
  for (const { from, delta } of s.early.splice(0)) mergeDelta(s, from, delta)
}

function mergeDelta (s: Core, from: PeerId, d: RingDelta): boolean {
  const seeds = d.part.seeds.length > 0 ? d.part.seeds : s.ring.seeds()
  if (seedsFingerprint(seeds) !== d.seeds) {
    reject(s, from, new DifferentSeedsError(`delta from ${from} names seed list ${d.seeds}, not ours (${seedsFingerprint(s.ring.seeds())})`))
    return false
  }
  return merge(s, from, { ...d.part, seeds }, d.raisedFrom)
}

/**
 * Anti-entropy. Equal digests: the sender holds exactly our ring. Otherwise the lighter side (or
 * both, on equal weights) pulls the whole ring from the other; a heavier sender is pulled from.
 */
export function onDigest (s: Core, from: PeerId, d: Digest, reply: boolean): void {
  // The answer carries the digest of the ring as it was when this one came, before any adoption.
  const { of, digest: mine, answer } = digestOfSnapshot(s)
  const same = sameDigest(d, mine)
  if (same) {
    markSynced(s, from)
    maybeAdopt(s)
  } else {
    unmarkSynced(s, from)
    // The pull tells the sender as much as a reply would, and the ring it brings settles the rest.
    if (s.ring.isEmpty() || d.weight >= mine.weight) { pull(s, from); return }
  }
  if (!reply || s.ring.isEmpty()) return
  // After a change every peer that made one asks everyone, so most asks reach peers whose own round
  // (or greeting, or answer) already took the asker this very digest: answering would only repeat
  // it. Such an ask is spared once; the next (ours may have been lost, or have come before the
  // asker's ring was ours) is answered, so no round waits for ever on an answer that was spared.
  if (same && s.told.of === of && s.told.peers.delete(from)) return
  s.out.send(from, answer)
  markTold(s, of, [from])
}

/** One pull at a time, each waiting up to `ask` ticks for its answer; the last peer found ahead meanwhile (maybe the same) is next. */
export function pull (s: Core, from: PeerId): void {
  if (s.pulling !== null && s.pulling.deadline > s.now) {
    s.ahead = from
    return
  }
  s.pulling = { from, deadline: s.now + s.t.ask }
  s.out.send(from, { type: 'pull' })
}

export function onHint (s: Core, from: PeerId, free: bigint): void {
  s.hints.set(from, free)
}

/**
 * A peer that changed its ring asks everyone for their digests at the next tick, and then the peers
 * still behind, `gossip` ticks later and each repeat twice as late (ROUND_DOUBLINGS), until each
 * reachable peer holds exactly its ring; so does a heir waiting to adopt.
 * Every `freeReport` ticks a changed free count goes out as a hint. A quiet cluster sends nothing.
 */
export function gossipTick (s: Core): void {
  if (s.pulling !== null && s.pulling.deadline <= s.now) s.pulling = null
  if (s.pulling === null && s.ahead !== null) {
    const next = s.ahead
    s.ahead = null
    if (s.reachable.has(next)) pull(s, next)
  }
  if (s.ring.isEmpty()) return
  if (s.now % s.t.gossip === 0 && awaitingAdoption(s)) {
    s.announceAt ??= s.now
    s.roundWaits = false
  }
  if (s.announceAt !== null && s.now >= s.announceAt) {
    const behind = peersBehind(s)
    if (behind.length === 0) s.announceAt = null
    else if (!s.roundWaits || settled(s, s.announceAt)) {
      sendRound(s, behind)
      s.announceAt = s.now + s.t.gossip * 2 ** Math.min(s.repeats, ROUND_DOUBLINGS)
      s.repeats++
      // What a round asked is on its way: the next one, if any is needed, may wait for the ring to rest.
      s.roundWaits = true
    }
  }
  if (s.now % s.t.freeReport === 0) reportFree(s)
}

/**
 * Whether a round that only confirms changes already sent as deltas may go out: once the ring has
 * been still for `gossip` ticks, or `ROUND_DEFER` gossip periods after it fell due. Every reachable
 * peer answers a round, so while changes flow (trades, the member records after a split) a round per
 * change costs N answers each, and mostly finds digests apart only because deltas are still on their
 * way, which starts needless pulls of the whole ring. The deltas carry the changes meanwhile; the
 * round after the last one confirms them all, and the bound keeps a lost delta from waiting on a
 * ring that never rests.
 */
function settled (s: Core, due: number): boolean {
  return s.now - s.changedAt >= s.t.gossip || s.now - due >= ROUND_DEFER * s.t.gossip
}

/** At most this many gossip periods a due round waits for the ring to rest. */
const ROUND_DEFER = 8

/**
 * A repeat of a round for the same ring waits twice as long as the one before, up to 2^ROUND_DOUBLINGS
 * gossip periods: a repeat is needed only when an answer was lost or came late, and on a starved
 * machine (50 agents on 2 cores) answers came later than a period, so every agent asked again every
 * period, each ask one more message for peers already unable to keep up. A change starts afresh.
 */
const ROUND_DOUBLINGS = 3

/**
 * A round asks the peers behind for their digests: each directly while they are at most half the
 * reachable peers, else everyone at once through gossip. A broadcast reaches every peer, and every
 * peer not spared answers it: with one starved peer behind in a mesh of 50, each round of each agent
 * cost 49 asks and up to 48 answers for the one that mattered.
 */
function sendRound (s: Core, behind: readonly PeerId[]): void {
  const ask = digestMessage(s, true)
  if (2 * behind.length <= s.reachable.size) {
    for (const p of behind) s.out.send(p, ask)
    markTold(s, snapshot(s), behind)
  } else {
    s.out.send('all', ask)
    markTold(s, snapshot(s), s.reachable)
  }
}

/** This peer's free count as a hint to everyone, if it changed since the last one. */
export function reportFree (s: Core): void {
  const free = s.space.freeCount()
  if (free === s.reported) return
  s.reported = free
  s.out.send('all', { type: 'hint', free })
}

/**
 * A newly reachable peer gets our digest (it pulls if behind, and answers with its own), unless known
 * to hold our ring. A greeting may be lost, and the peers that made the difference may be down by
 * then: until the greeted peer answers with our digest, the digest rounds go on every `gossip` ticks.
 */
export function greet (s: Core, peers: readonly PeerId[]): void {
  if (s.removedBy !== null || s.ring.isEmpty()) return
  const ring = snapshot(s)
  const unsynced = peers.filter(q => !isSynced(s, q, ring))
  for (const q of unsynced) s.out.send(q, digestMessage(s, true))
  markTold(s, ring, unsynced)
  if (unsynced.length === 0) return
  // Also when a repeat was waiting longer: a new peer is a new reason.
  s.announceAt = Math.min(s.announceAt ?? Infinity, s.now + s.t.gossip)
  s.roundWaits = false
  s.repeats = 0
}

/** The delta to broadcast for this batch's own changes (null if none), and the baseline moves on. */
export function takeDelta (s: Core): RingDelta | null {
  const now = snapshot(s)
  const part = deltaOf(s.lastSent, now, s.universe.size)
  const floorMoved = part.floor !== s.lastSent.floor || part.level !== s.lastSent.level
  // The floor this delta carries is the one this peer raised: the delta names the ring it raised it on.
  const raisedFrom = s.raised !== null && s.raised.floor === part.floor && s.lastSent.floor < part.floor ? s.raised.from : undefined
  s.raised = null
  s.lastSent = now
  if (emptyDelta(part) && !floorMoved) return null
  announce(s, true)
  return { seeds: seedsFingerprint(now.seeds), part, ...(raisedFrom !== undefined ? { raisedFrom } : {}) }
}

/**
 * A digest round falls due at the next tick; `waits`: it only confirms what went out as a delta, so
 * it may wait for the ring to rest (`settled`). A round for anything else waits for nothing.
 */
export function announce (s: Core, waits = false): void {
  if (s.announceAt === null) s.roundWaits = waits
  else if (!waits) s.roundWaits = false
  if (s.announceAt === null || s.announceAt > s.now + 1) s.announceAt = s.now + 1
}

/** The planted bug of Weave's merge: an incoming run that ties a local entry starting where it starts takes the local owner. */
function mineWinsTies (local: readonly Entry[], size: bigint, incoming: RingPart): RingPart {
  const mine = new Map(runsOf(local, size).map(r => [r.range.start, r]))
  const runs = incoming.runs.map(r => {
    const m = mine.get(r.range.start)
    return m !== undefined && m.version === r.version ? { ...r, owner: m.owner } : r
  })
  return { ...incoming, runs }
}

/**
 * The reachable peers that may not hold exactly our ring: those that never told us they do, or told
 * us before our ring changed.
 */
function peersBehind (s: Core): PeerId[] {
  const mine = snapshot(s)
  return [...s.reachable].filter(p => !isSynced(s, p, mine))
}

/**
 * After any change to the ring: persist it, keep this peer's member record and acks, stop if this
 * peer was removed, and bring the space in line. Broadcast only what this peer changed itself: what
 * a merge brought in, its sender has broadcast already. So the baseline of the next delta moves
 * past a merge unless a change of ours is waiting to go out.
 */
export function ringChanged (s: Core, local = true): void {
  s.out.ringDirty = true
  s.snap = null
  s.changedAt = s.now
  s.repeats = 0
  if (local) s.out.gossip = true
  else if (!s.out.gossip) s.lastSent = snapshot(s)
  s.mutations++
  const heir = s.ring.isRemoved(s.id) ? s.ring.effectiveOwner(s.id) : belowFloor(s) ? s.id : null
  if (heir !== null) {
    if (s.removedBy === null) {
      s.removedBy = heir
      s.out.events.push({ kind: 'removed-self', heir: heir === s.id ? null : heir })
    }
    return
  }
  if (!s.ring.isEmpty()) {
    const adopt = s.faults.compactEarly === true || inheritanceReady(s)
    // Coalescing after every change: a grant received next to this peer's space, or an adoption,
    // leaves adjacent entries of this peer, and one write makes them one.
    const own = [s.ring.setMember(s.id, s.nickname, s.address, s.held), adopt && s.ring.adopt(s.id), s.ring.ackRemovals(s.id), s.ring.coalesce(s.id)]
    if (own.some(Boolean)) s.out.gossip = true
    s.snap = null
  }
  for (const p of s.hints.keys()) if (s.ring.isRemoved(p)) s.hints.delete(p)
  const lost = s.space.setOwned(usableRanges(s.ring, s.id, s.faults.heirSkipsSettle === true))
  if (lost.length > 0) throw new InvariantError(`${s.id}: ring change took ${lost.length} allocated addresses, e.g. offset ${lost[0]}`)
  s.held = holds(s)
}

/** This peer owns space in its ring or holds allocations: what a removed peer must not go on serving. */
const holds = (s: Core): boolean => s.space.allocatedCount() > 0 || s.ring.entries().some(e => e.owner === s.id)

/**
 * A whole ring raised our floor without naming us while this peer owned space or held allocations
 * and its record was born below that floor, or its own record is below the floor while it held
 * anything before this change: it was no known member when the floor was raised, so it was removed
 * and the removal compacted away (README, "Compaction"). One that held nothing just stamps its
 * record afresh, also when the ring that raised the floor gives it space: grants it never received
 * (it crashed), made after their donor held the raiser's ring. A compacted removal's peer is named
 * by no entry of a ring at that floor, so such a ring does not give it space.
 */
function belowFloor (s: Core): boolean {
  if (s.faults.ignoreOwnFloor === true) return false
  const me = s.ring.member(s.id)
  if (me === undefined) return false
  // Unnamed, yet born at or above the floor: a joiner that came in through a peer behind on floors.
  if (s.unnamed && me.born < s.ring.floor()) return true
  s.unnamed = false
  return me.since < s.ring.floor() && s.held
}

/**
 * Raises the floor to the lowest stamp among the known peers' records, once every known peer holds
 * exactly this ring (as the heir waits before adopting): every peer that owns space or holds
 * allocations then has a record at or above it, itself or through a grant that carried the level
 * (README, "Compaction"), and every replica of a compacted removal's peer is below it. The delta
 * that carries the floor names this ring by its digest, so every peer still holding it raises the
 * same floor on it, and only the others pull the whole ring.
 */
function maybeRaiseFloor (s: Core): void {
  if (s.removedBy !== null || s.ring.isEmpty() || s.ring.level() <= s.ring.floor()) return
  const ring = snapshot(s)
  let to = s.ring.level()
  for (const p of s.faults.floorUnchecked === true ? [] : s.ring.knownPeers()) {
    const m = s.ring.member(p)
    if (m === undefined || (p !== s.id && !isSynced(s, p, ring))) return
    if (m.since < to) to = m.since
  }
  const from = digest(s)
  if (!s.ring.raiseFloor(to, s.id)) return
  s.raised = { floor: to, from }
  ringChanged(s)
}

/**
 * The heir adopts a removed peer's entries once every known peer has acknowledged the removal and
 * holds exactly the heir's ring (its digest said so): every grant the dead peer made that any peer
 * knows of is then in the heir's ring too. Deltas alone would not carry it: an ack is a change to a
 * member record, not a copy of the acker's ring.
 */
function inheritanceReady (s: Core): boolean {
  if (!allInheritancesSettled(s)) return false
  const ring = snapshot(s)
  return s.ring.knownPeers().every(p => p === s.id || isSynced(s, p, ring))
}

function maybeAdopt (s: Core): void {
  if (s.removedBy === null && awaitingAdoption(s) && inheritanceReady(s) && s.ring.adopt(s.id)) {
    s.ring.ackRemovals(s.id)
    ringChanged(s)
  }
  maybeRaiseFloor(s)
}

/** Some removal whose ranges end with this peer is not completed yet. */
function awaitingAdoption (s: Core): boolean {
  return s.ring.pendingRemovals().some(p => s.ring.effectiveOwner(p) === s.id)
}

/** Whether every removal whose ranges end with this peer is acknowledged by every member (a completed one is settled). */
function allInheritancesSettled (s: Core): boolean {
  return s.ring.pendingRemovals().every(p => s.ring.effectiveOwner(p) !== s.id || s.ring.settled(p))
}
