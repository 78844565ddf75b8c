/**
 * The ring CRDT: who owns which part of the universe. The ring maps every address to (owner,
 * version), held as its maximal runs (entries; the first at 0). Merge is, address by address, the
 * later of the two (higher version, then larger owner id): a join, so commutative, associative and
 * idempotent whatever the boundaries, and rings converge. Versions are Lamport clocks: each write
 * takes one above every version in the writer's ring, and only a region's owner (or, after a decided
 * takeover, the heir) writes it, so the later write is the one that knew of the other.
 */
import { type Universe, formatRange } from './address.ts'
import { DifferentSeedsError, RingError } from './errors.ts'
import { IntervalSet } from './intervals.ts'
import { clip, entriesOf, overlay, runsOf } from './runs.ts'
import { statesEqual, validatePart, validateState } from './shape.ts'
import { type Span, spansOf } from './spans.ts'
import type { Entry, Member, Offset, PeerId, Range, Removal, RingPart, RingState, Run } from './types.ts'

export interface ConflictEvent {
  readonly kind: 'conflict'
  readonly token: Offset
  readonly version: number
  readonly localOwner: PeerId
  readonly remoteOwner: PeerId
  readonly from: PeerId
}

/** What one peer holds in the ring: addresses it effectively owns, and its last reported free count (a hint). */
export interface Holding {
  readonly size: bigint
  readonly free: bigint
}

export interface MergeResult {
  readonly changed: boolean
  readonly conflicts: ConflictEvent[]
}

const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

function memberWinner (a: Member, b: Member): Member {
  if (a.version !== b.version) return a.version > b.version ? a : b
  const ka = `${a.nickname}\u0000${a.address ?? ''}\u0000${a.acks.join(',')}\u0000${a.since}\u0000${a.born}`
  const kb = `${b.nickname}\u0000${b.address ?? ''}\u0000${b.acks.join(',')}\u0000${b.since}\u0000${b.born}`
  return ka >= kb ? a : b
}

export class Ring {
  readonly universe: Universe
  private seedList: PeerId[] = []
  private list: Entry[] = []
  private memberMap = new Map<PeerId, Member>()
  private removedMap = new Map<PeerId, PeerId>()
  /** Removals the heir has completed, with their completion stamps (`Removal.done`). */
  private doneMap = new Map<PeerId, number>()
  private floorValue = 0
  private levelValue = 0
  /** `removals()` as of the last change to the removals: read on every message, and it grows with history. */
  private removalList: readonly Removal[] | null = null

  private constructor (universe: Universe) {
    this.universe = universe
  }

  static empty (u: Universe): Ring {
    return new Ring(u)
  }

  /** A ring from persisted or received state; throws on anything invalid. */
  static fromState (u: Universe, s: RingState): Ring {
    const err = validateState(u, s)
    if (err !== null) throw err
    const r = new Ring(u)
    r.seedList = [...s.seeds]
    r.list = [...s.entries]
    for (const m of s.members) r.memberMap.set(m.peer, m)
    for (const x of s.removed) {
      r.removedMap.set(x.peer, x.heir)
      if (x.done !== undefined) r.doneMap.set(x.peer, x.done)
    }
    r.floorValue = s.floor
    r.levelValue = s.level
    r.assert()
    return r
  }

  toState (): RingState {
    return {
      universe: this.universe.cidr,
      seeds: [...this.seedList],
      entries: [...this.list],
      members: [...this.memberMap.values()].sort((a, b) => cmpStr(a.peer, b.peer)),
      removed: this.removals(),
      floor: this.floorValue,
      level: this.levelValue
    }
  }

  isEmpty (): boolean { return this.list.length === 0 }
  seeds (): readonly PeerId[] { return this.seedList }
  entries (): readonly Entry[] { return this.list }
  member (p: PeerId): Member | undefined { return this.memberMap.get(p) }
  removals (): readonly Removal[] {
    this.removalList ??= [...this.removedMap].map(([peer, heir]): Removal => {
      const done = this.doneMap.get(peer)
      return done === undefined ? { peer, heir } : { peer, heir, done }
    }).sort((a, b) => cmpStr(a.peer, b.peer))
    return this.removalList
  }
  /** The removals not completed yet (each settled or not), in peer id order. */
  pendingRemovals (): PeerId[] {
    if (!this.removalsPending()) return []
    return [...this.removedMap.keys()].filter(p => !this.doneMap.has(p)).sort(cmpStr)
  }
  /** Completed removals stamped at or below it are compacted away (README, "Compaction"). */
  floor (): number { return this.floorValue }
  /** The highest completion stamp seen: a member stamps its record with it. */
  level (): number { return this.levelValue }
  isRemoved (p: PeerId): boolean { return this.removedMap.has(p) }
  /** Some removal is not completed yet: its heir may still have entries to adopt. */
  removalsPending (): boolean { return this.removedMap.size > this.doneMap.size }
  /** Who `p`'s removal named as heir (not followed further); undefined if `p` is not removed. */
  heirOf (p: PeerId): PeerId | undefined { return this.removedMap.get(p) }

  /** The peer that now acts for `peer`: itself, or the heir of its removal, followed transitively. */
  effectiveOwner (peer: PeerId): PeerId {
    if (!this.removedMap.has(peer)) return peer
    let p = peer
    const seen = new Set<PeerId>()
    for (let heir = this.removedMap.get(p); heir !== undefined; heir = this.removedMap.get(p)) {
      if (seen.has(p)) break
      seen.add(p)
      p = heir
    }
    return p
  }

  /** Every entry's ranges, owned by its effective owner. */
  spans (): Span[] {
    return spansOf(this.universe.size, this.list, e => this.effectiveOwner(e.owner))
  }

  private indexAt (offset: Offset): number {
    let lo = 0
    let hi = this.list.length - 1
    let ans = this.list.length - 1 // before the first token: the wrap of the last entry
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.list[mid]!.token <= offset) { ans = mid; lo = mid + 1 } else hi = mid - 1
    }
    return ans
  }

  ownerAt (offset: Offset): PeerId | null {
    if (this.list.length === 0) return null
    return this.effectiveOwner(this.list[this.indexAt(offset)]!.owner)
  }

  rangesOf (peer: PeerId): Range[] {
    const set = new IntervalSet()
    for (const sp of this.spans()) if (sp.owner === peer) set.add(sp.range)
    return set.ranges()
  }

  sizeOf (peer: PeerId): bigint {
    return this.rangesOf(peer).reduce((n, r) => n + r.end - r.start, 0n)
  }

  /**
   * Every effective owner's space, in one pass, with its free count from `hints` (0 when it has
   * reported none); keyed in peer id order.
   */
  holdings (hints: ReadonlyMap<PeerId, bigint>): Map<PeerId, Holding> {
    const size = new Map<PeerId, bigint>()
    for (const { owner, range } of this.spans()) size.set(owner, (size.get(owner) ?? 0n) + range.end - range.start)
    return new Map([...size].sort(([a], [b]) => cmpStr(a, b)).map(([p, n]) => [p, { size: n, free: hints.get(p) ?? 0n }]))
  }

  /** Peers that own space, effectively, sorted. */
  owners (): PeerId[] {
    return [...new Set(this.list.map(e => this.effectiveOwner(e.owner)))].sort(cmpStr)
  }

  /** The even initial split: sorted seeds get shares that differ by at most one address. */
  claimForPeers (seeds: readonly PeerId[]): void {
    if (!this.isEmpty()) throw new RingError('claimForPeers on a ring that already has entries')
    const peers = [...new Set(seeds)].sort(cmpStr)
    if (peers.length === 0) throw new RingError('claimForPeers needs at least one peer')
    const size = this.universe.size
    const n = BigInt(peers.length) > size ? size : BigInt(peers.length)
    const base = size / n
    const extra = size % n
    let token = 0n
    const entries: Entry[] = []
    for (let i = 0n; i < n; i++) {
      const share = base + (i < extra ? 1n : 0n)
      entries.push({ token, owner: peers[Number(i)]!, version: WRITE_STEP })
      token += share
    }
    this.seedList = peers
    this.list = entries
    this.assert()
  }

  /**
   * The highest version or stamp in the ring: every write takes one above it (a Lamport clock that
   * a merge advances). The level counts, so a write is above every completion this ring has seen.
   */
  clock (): number {
    let c = this.levelValue
    for (const e of this.list) if (e.version > c) c = e.version
    return c
  }

  private runs (): Run[] {
    return runsOf(this.list, this.universe.size)
  }

  /** One write: `owner` over `ranges` (sorted, disjoint), with one version above every one in the ring (a multiple of WRITE_STEP). */
  private write (ranges: readonly Range[], owner: PeerId): void {
    const version = nextWrite(this.clock())
    this.list = entriesOf(overlay(this.runs(), ranges.map(range => ({ range, owner, version }))))
  }

  /** `from` hands `range` to `to`. Precondition: `from` effectively owns every address in it. */
  give (range: Range, from: PeerId, to: PeerId): void {
    const u = this.universe
    if (range.start < 0n || range.end > u.size || range.start >= range.end) {
      throw new RingError(`give: [${range.start}, ${range.end}) is not a non-empty range inside ${u.cidr}`)
    }
    if (from === to) throw new RingError('give: a peer cannot give to itself')
    const mine = IntervalSet.of(this.rangesOf(from))
    if (mine.countIn(range) !== range.end - range.start) {
      throw new RingError(`give: ${from} does not own all of ${formatRange(u, range)}`)
    }
    this.write([range], to)
    this.assert()
  }

  /**
   * `peer` rewrites every stretch of adjacent entries it owns outright as one entry (one write of
   * "mine" over its own space, with a fresh version), so its entries are its maximal contiguous
   * ranges. The old boundaries and versions are below the new version: no replica can bring them
   * back. A removed peer does nothing (its space is its heir's).
   */
  coalesce (peer: PeerId): boolean {
    if (this.removedMap.has(peer)) return false
    const stretches: Range[] = []
    const runs = this.runs()
    // An adopted entry (its version between two steps) is left out: see `adopt`.
    const mine = (r: Run | undefined): boolean => r !== undefined && r.owner === peer && !adopted(r.version)
    for (let i = 0; i < runs.length; i++) {
      if (!mine(runs[i])) continue
      let j = i
      while (mine(runs[j + 1])) j++
      if (j > i) stretches.push({ start: runs[i]!.range.start, end: runs[j]!.range.end })
      i = j
    }
    if (stretches.length === 0) return false
    this.write(stretches, peer)
    this.assert()
    return true
  }

  /**
   * The heir rewrites entries it inherited to its own id, so the ring no longer names removed peers,
   * and completes those removals (compaction: their acks and the dead peers' records go). Each entry
   * gets its own version plus one, between two write steps: above the dead peer's entry as the heir
   * holds it, and below any write the dead peer made after it (a gift to a peer the heir has never
   * heard of, made while the dead peer was cut off and not yet told), which therefore still wins.
   * Adopted entries are not coalesced for the same reason; a later write of the heir's over them (a
   * gift) is a write like any other. Past WRITE_STEP - 1 adoptions of one entry, a whole step.
   */
  adopt (peer: PeerId): boolean {
    if (!this.removalsPending()) return false
    const next = nextWrite(this.clock())
    const inherited = this.runs().filter(r => r.owner !== peer && this.effectiveOwner(r.owner) === peer)
      .map(r => ({ range: r.range, owner: peer, version: (r.version + 1) % WRITE_STEP === 0 ? next : r.version + 1 }))
    let changed = inherited.length > 0
    if (changed) this.list = entriesOf(overlay(this.runs(), inherited))
    // The completion's stamp is above everything in the ring, records' stamps included (they are at most the level).
    const stamp = nextWrite(this.clock())
    for (const dead of this.removedMap.keys()) {
      if (this.doneMap.has(dead) || this.effectiveOwner(dead) !== peer) continue
      this.doneMap.set(dead, stamp)
      this.levelValue = stamp
      this.removalList = null
      changed = true
    }
    this.dropDoneRecords()
    if (changed) this.assert()
    return changed
  }

  /** A completed removal's dead peer needs no record: nothing of it is read again, and the removal stays. */
  private dropDoneRecords (): void {
    for (const dead of this.doneMap.keys()) this.memberMap.delete(dead)
  }

  /**
   * Raises the floor to `to` (never lowers it) and compacts. The caller has checked the rule: every
   * known peer's record is stamped at or above `to` and holds this ring (ring-sync.ts).
   */
  raiseFloor (to: number, self: PeerId): boolean {
    if (to <= this.floorValue) return false
    if (to > this.levelValue) throw new RingError(`raiseFloor: ${to} is above the level ${this.levelValue}`)
    this.floorValue = to
    this.compact(self)
    this.assert()
    return true
  }

  /**
   * What the floor makes unnecessary: completed removals stamped at or below it (once no entry names
   * the dead peer: its space is all adopted), and records stamped below it of peers that effectively
   * own nothing (a dead peer's, wherever it came from; a live observer's that has not restamped yet
   * restamps). `self`'s own record stays: the peer decides what its own below the floor means
   * (ring-sync.ts).
   */
  private compact (self: PeerId): void {
    if (this.floorValue === 0) return
    const owners = new Set(this.list.map(e => e.owner))
    for (const [dead, stamp] of this.doneMap) {
      if (stamp > this.floorValue || owners.has(dead)) continue
      this.doneMap.delete(dead)
      this.removedMap.delete(dead)
      this.removalList = null
    }
    const effective = new Set([...owners].map(o => this.effectiveOwner(o)))
    for (const m of this.memberMap.values()) {
      if (m.since < this.floorValue && m.peer !== self && !effective.has(m.peer)) this.memberMap.delete(m.peer)
    }
  }

  /**
   * `peer`'s own record: its nickname and node address (none: `undefined`), stamped at least at the
   * level. `holding`: the peer owns space or holds allocations; one that holds nothing is born afresh
   * with a new stamp (a peer that built the first split itself, or an observer).
   */
  setMember (peer: PeerId, nickname: string, address?: string, holding = true): boolean {
    const m = this.memberMap.get(peer)
    if (m !== undefined && m.nickname === nickname && m.address === address && m.since >= this.levelValue) return false
    const version = (m?.version ?? 0) + 1
    this.memberMap.set(peer, { peer, nickname, version, ...(address === undefined ? {} : { address }), acks: m?.acks ?? [], since: this.levelValue, born: m === undefined || !holding ? this.levelValue : m.born })
    return true
  }

  /** `peer`'s record acknowledges every removal this ring knows that is not completed (a completed one needs no acks). */
  ackRemovals (peer: PeerId): boolean {
    const m = this.memberMap.get(peer) ?? { peer, nickname: '', version: 0, acks: [], since: this.levelValue, born: this.levelValue }
    const acks = [...this.removedMap.keys()].filter(p => !this.doneMap.has(p)).sort(cmpStr)
    if (m.version > 0 && acks.length === m.acks.length && acks.every((a, i) => a === m.acks[i])) return false
    this.memberMap.set(peer, { ...m, version: m.version + 1, acks })
    return true
  }

  addRemoval (dead: PeerId, heir: PeerId): boolean {
    if (dead === heir) throw new RingError(`addRemoval: ${dead} cannot be its own heir`)
    if (this.removedMap.has(dead)) return false
    this.removedMap.set(dead, heir)
    this.removalList = null
    return true
  }

  /**
   * Every peer this ring names that is not removed: members, seeds and entry owners. A peer that has
   * only just joined may know few members, but every ring names its seeds and owners, so two views of
   * who votes and who must acknowledge overlap.
   */
  knownPeers (): PeerId[] {
    // A seed whose removal was compacted away has no record and owns nothing: it is not known any more.
    const owners = this.list.map(e => e.owner)
    const seeds = this.floorValue === 0 ? this.seedList : this.seedList.filter(p => this.memberMap.has(p) || owners.includes(p))
    const all = new Set<PeerId>([...this.memberMap.keys(), ...seeds, ...owners])
    return [...all].filter(p => !this.removedMap.has(p)).sort(cmpStr)
  }

  /** `dead`'s removal is decided and every known peer but its heir has acknowledged it. */
  settled (dead: PeerId): boolean {
    if (!this.removedMap.has(dead)) return false
    if (this.doneMap.has(dead)) return true
    const heir = this.effectiveOwner(dead)
    return this.knownPeers().every(p => p === heir || (this.memberMap.get(p)?.acks.includes(dead) ?? false))
  }

  /**
   * Merges a received ring. `hasAllocationsIn` tells whether `self` holds allocations in a range:
   * where the join would take such a range from `self`, the local entries are kept there and the
   * event reported. Throws, applying nothing, on an invalid ring or a different universe or seeds.
   */
  merge (incoming: RingState, self: PeerId, hasAllocationsIn: (r: Range) => boolean, from: PeerId): MergeResult {
    const err = validateState(this.universe, incoming)
    if (err !== null) throw err
    const { entries, ...rest } = incoming
    return this.mergePart({ ...rest, runs: runsOf(entries, this.universe.size) }, self, hasAllocationsIn, from)
  }

  /**
   * Merges part of a ring (a delta): each run joined address by address, so the part tells nothing
   * of addresses outside its runs. Into an empty ring only a part whose runs cover the universe (the
   * first split). Otherwise as `merge`.
   */
  mergePart (incoming: RingPart, self: PeerId, hasAllocationsIn: (r: Range) => boolean, from: PeerId): MergeResult {
    const err = validatePart(this.universe, incoming)
    if (err !== null) throw err
    if (this.seedList.length > 0 && incoming.seeds.length > 0 &&
      (this.seedList.length !== incoming.seeds.length || this.seedList.some((s, i) => s !== incoming.seeds[i]))) {
      throw new DifferentSeedsError(`ring from ${from} was seeded by [${incoming.seeds.join(', ')}], ours by [${this.seedList.join(', ')}]`)
    }
    const size = this.universe.size
    if (this.isEmpty() && incoming.runs.length > 0 && !covers(incoming.runs, size)) {
      throw new RingError(`ring from ${from}: a part that does not cover ${this.universe.cidr} cannot start a ring`)
    }
    const before = this.toState()
    const next = new Ring(this.universe)
    next.seedList = this.seedList.length > 0 ? [...this.seedList] : [...incoming.seeds]
    next.memberMap = new Map(this.memberMap)
    for (const m of incoming.members) {
      const mine = next.memberMap.get(m.peer)
      next.memberMap.set(m.peer, mine === undefined ? m : memberWinner(mine, m))
    }
    next.removedMap = new Map(this.removedMap)
    next.doneMap = new Map(this.doneMap)
    next.floorValue = Math.max(this.floorValue, incoming.floor)
    next.levelValue = Math.max(this.levelValue, incoming.level)
    let removalsChanged = false
    for (const x of incoming.removed) {
      // A completed removal the floor has passed is compacted already (or about to be, below).
      if (x.done !== undefined && x.done <= next.floorValue && !next.removedMap.has(x.peer)) continue
      const mine = next.removedMap.get(x.peer)
      if (mine === undefined || x.heir < mine) {
        next.removedMap.set(x.peer, x.heir)
        // A completion counts only for the heir that made it.
        if (mine !== undefined) next.doneMap.delete(x.peer)
        removalsChanged = true
      }
      const had = next.doneMap.get(x.peer)
      if (x.done !== undefined && next.removedMap.get(x.peer) === x.heir && (had === undefined || x.done > had)) {
        next.doneMap.set(x.peer, x.done)
        if (x.done > next.levelValue) next.levelValue = x.done
        removalsChanged = true
      }
    }
    next.dropDoneRecords()

    const local = this.runs()
    next.list = this.isEmpty() ? entriesOf(incoming.runs) : entriesOf(overlay(local, incoming.runs))

    // Where the join takes allocated addresses from self, keep the local entries there. Each round
    // puts back one lost stretch, and a stretch put back is not lost again unless the removals
    // merged give it to another heir (then the merge is refused): bounded by the entries.
    const removedSelf = next.removedMap.has(self)
    const conflicts: ConflictEvent[] = []
    const mineBefore = IntervalSet.of(this.rangesOf(self))
    while (!removedSelf && !mineBefore.isEmpty()) {
      const lost = mineBefore.minus(IntervalSet.of(next.rangesOf(self)))
      const culprit = lost.ranges().find(r => hasAllocationsIn(r))
      if (culprit === undefined) break
      const e = next.list[next.indexAt(culprit.start)]!
      const mine = this.list[this.indexAt(culprit.start)]!
      if (e.owner === mine.owner && e.version === mine.version) throw new RingError(`merge: lost ${formatRange(this.universe, culprit)} without an incoming entry`)
      conflicts.push({ kind: 'conflict', token: culprit.start, version: e.version, localOwner: self, remoteOwner: e.owner, from })
      next.list = entriesOf(overlay(next.runs(), clip(local, culprit), (_, t) => t))
    }

    next.compact(self)
    if (next.removedMap.size !== this.removedMap.size) removalsChanged = true
    const chk = next.checkInvariants()
    if (chk !== null) throw chk
    this.seedList = next.seedList
    this.list = next.list
    this.memberMap = next.memberMap
    if (removalsChanged) this.removalList = null
    this.removedMap = next.removedMap
    this.doneMap = next.doneMap
    this.floorValue = next.floorValue
    this.levelValue = next.levelValue
    const after = this.toState()
    return { changed: !statesEqual(before, after), conflicts }
  }

  checkInvariants (): Error | null {
    return validateState(this.universe, this.toState())
  }

  private assert (): void {
    const err = this.checkInvariants()
    if (err !== null) throw err
  }
}

/**
 * Writes take versions that are multiples of this; an adoption takes the adopted entry's version
 * plus one, in between (see `Ring.adopt`).
 */
export const WRITE_STEP = 16

/** The version of a write after `clock`: the next multiple of WRITE_STEP above it. */
const nextWrite = (clock: number): number => (Math.floor(clock / WRITE_STEP) + 1) * WRITE_STEP

/** A version an adoption wrote (between two write steps). */
const adopted = (version: number): boolean => version % WRITE_STEP !== 0

/** Whether sorted disjoint runs cover [0, size) with no gap. */
function covers (runs: readonly Run[], size: bigint): boolean {
  let at = 0n
  for (const r of runs) { if (r.range.start !== at) return false; at = r.range.end }
  return at === size
}
