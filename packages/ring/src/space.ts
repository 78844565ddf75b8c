/**
 * One peer's addresses: what it owns, what it has allocated, and so what is free. Allocation is
 * next-fit from a cursor, so an address just released is not handed straight back while a pod that
 * had it may still be terminating; it comes round again only after the rest of the space has been used.
 */
import { type Universe, reservedRanges } from './address.ts'
import { IntervalSet } from './intervals.ts'
import type { Offset, Range } from './types.ts'

export type ClaimResult = 'ok' | 'allocated' | 'not-owned' | 'reserved'

export class Space {
  readonly universe: Universe
  private ownedSet = new IntervalSet()
  private allocatedSet = new IntervalSet()
  private freeSet = new IntervalSet()
  private readonly reserved: IntervalSet
  private cursor: Offset = 0n

  constructor (universe: Universe) {
    this.universe = universe
    this.reserved = IntervalSet.of(reservedRanges(universe))
  }

  /**
   * Replaces the owned ranges (as the ring now says). Allocations that fall outside are dropped and
   * returned: the caller decides what that means (after a merge it is a conflict already reported).
   */
  setOwned (ranges: readonly Range[]): Offset[] {
    const owned = IntervalSet.of(ranges)
    // Most ring changes (gossiped free counts, member records) leave this peer's ranges as they were.
    if (owned.equals(this.ownedSet)) return []
    const lost: Offset[] = []
    for (const r of this.allocatedSet.minus(owned).ranges()) {
      for (let o = r.start; o < r.end; o++) lost.push(o)
    }
    this.ownedSet = owned
    this.allocatedSet = this.allocatedSet.intersect(owned)
    this.freeSet = owned.minus(this.allocatedSet).minus(this.reserved)
    return lost
  }

  owned (): Range[] { return this.ownedSet.ranges() }
  owns (o: Offset): boolean { return this.ownedSet.has(o) }
  ownedCount (): bigint { return this.ownedSet.count() }

  allocate (): Offset | null {
    const o = this.freeSet.firstAtOrAfter(this.cursor) ?? this.freeSet.firstAtOrAfter(0n)
    if (o === null) return null
    this.take(o)
    return o
  }

  claim (o: Offset): ClaimResult {
    if (this.reserved.has(o)) return 'reserved'
    if (this.allocatedSet.has(o)) return 'allocated'
    if (!this.ownedSet.has(o)) return 'not-owned'
    this.take(o)
    return 'ok'
  }

  private take (o: Offset): void {
    const r = { start: o, end: o + 1n }
    this.freeSet.remove(r)
    this.allocatedSet.add(r)
    this.cursor = o + 1n
  }

  release (o: Offset): boolean {
    if (!this.allocatedSet.has(o)) return false
    const r = { start: o, end: o + 1n }
    this.allocatedSet.remove(r)
    if (this.ownedSet.has(o)) this.freeSet.add(r)
    return true
  }

  isAllocated (o: Offset): boolean { return this.allocatedSet.has(o) }
  allocatedCount (): number { return Number(this.allocatedSet.count()) }
  freeCount (): bigint { return this.freeSet.count() }
  freeIn (r: Range): bigint { return this.freeSet.countIn(r) }
  hasAllocationsIn (r: Range): boolean { return this.allocatedSet.countIn(r) > 0n }

  /** What to give a peer that asks: the upper half of the largest free run; null with fewer than 2 free. */
  donation (): Range | null {
    if (this.freeSet.count() < 2n) return null
    const run = this.freeSet.largest()
    if (run === null) return null
    const len = run.end - run.start
    if (len === 1n) return run
    return { start: run.end - len / 2n, end: run.end }
  }

  checkInvariants (): Error | null {
    for (const s of [this.ownedSet, this.allocatedSet, this.freeSet]) {
      const e = s.checkInvariants()
      if (e !== null) return e
    }
    if (this.freeSet.minus(this.ownedSet).count() !== 0n) return new Error('free space outside owned ranges')
    if (this.freeSet.intersect(this.allocatedSet).count() !== 0n) return new Error('an address is both free and allocated')
    if (this.freeSet.intersect(this.reserved).count() !== 0n) return new Error('a reserved address is free')
    const expectFree = this.ownedSet.minus(this.allocatedSet).minus(this.reserved)
    if (!expectFree.equals(this.freeSet)) return new Error('free != owned - allocated - reserved')
    return null
  }
}
