/**
 * A set of offsets kept as sorted, disjoint, non-adjacent half-open intervals. Memory grows with the
 * number of runs, not of addresses, so a /12 or a /64 costs what its fragmentation costs.
 */
import type { Offset, Range } from './types.ts'

export class IntervalSet {
  // Parallel arrays: interval i is [starts[i], ends[i]).
  private starts: bigint[] = []
  private ends: bigint[] = []
  private total = 0n

  static of (ranges: readonly Range[]): IntervalSet {
    const s = new IntervalSet()
    for (const r of ranges) s.add(r)
    return s
  }

  count (): bigint { return this.total }
  isEmpty (): boolean { return this.starts.length === 0 }

  ranges (): Range[] {
    return this.starts.map((start, i) => ({ start, end: this.ends[i]! }))
  }

  /** Index of the last interval whose start is <= x, or -1. */
  private floor (x: bigint): number {
    let lo = 0
    let hi = this.starts.length - 1
    let ans = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.starts[mid]! <= x) { ans = mid; lo = mid + 1 } else hi = mid - 1
    }
    return ans
  }

  has (x: Offset): boolean {
    const i = this.floor(x)
    return i >= 0 && x < this.ends[i]!
  }

  /** The smallest member >= x, or null. */
  firstAtOrAfter (x: Offset): Offset | null {
    const i = this.floor(x)
    if (i >= 0 && x < this.ends[i]!) return x
    const next = this.starts[i + 1]
    return next ?? null
  }

  add (r: Range): void {
    if (r.start >= r.end) return
    let start = r.start
    let end = r.end
    // Absorb every interval that overlaps or touches [start, end).
    let i = this.floor(start)
    if (i < 0 || this.ends[i]! < start) i++
    let j = i
    while (j < this.starts.length && this.starts[j]! <= end) {
      if (this.starts[j]! < start) start = this.starts[j]!
      if (this.ends[j]! > end) end = this.ends[j]!
      this.total -= this.ends[j]! - this.starts[j]!
      j++
    }
    this.replace(i, j, start, end, null, null)
    this.total += end - start
  }

  remove (r: Range): void {
    if (r.start >= r.end) return
    let i = this.floor(r.start)
    if (i < 0 || this.ends[i]! <= r.start) i++
    let j = i
    while (j < this.starts.length && this.starts[j]! < r.end) {
      this.total -= this.ends[j]! - this.starts[j]!
      j++
    }
    if (j === i) return
    // Of the intervals [i, j) that r meets, only the first can start before it and only the last end after.
    const first = this.starts[i]!
    const last = this.ends[j - 1]!
    const left = first < r.start
    const right = last > r.end
    if (left) this.total += r.start - first
    if (right) this.total += last - r.end
    if (left && right) this.replace(i, j, first, r.start, r.end, last)
    else if (left) this.replace(i, j, first, r.start, null, null)
    else if (right) this.replace(i, j, r.end, last, null, null)
    else this.replace(i, j, null, null, null, null)
  }

  /**
   * Puts the intervals [s1, e1) and [s2, e2) (those given) in place of intervals [i, j): in place
   * when the count is unchanged, the common case of an address taken or returned at a run's edge,
   * since a splice makes an array of what it removes.
   */
  private replace (i: number, j: number, s1: bigint | null, e1: bigint | null, s2: bigint | null, e2: bigint | null): void {
    const put = s1 === null ? 0 : s2 === null ? 1 : 2
    if (put === j - i) {
      if (s1 !== null) { this.starts[i] = s1; this.ends[i] = e1! }
      if (s2 !== null) { this.starts[i + 1] = s2; this.ends[i + 1] = e2! }
    } else if (put === 0) {
      this.starts.splice(i, j - i)
      this.ends.splice(i, j - i)
    } else if (put === 1) {
      this.starts.splice(i, j - i, s1!)
      this.ends.splice(i, j - i, e1!)
    } else {
      this.starts.splice(i, j - i, s1!, s2!)
      this.ends.splice(i, j - i, e1!, e2!)
    }
  }

  /** How many members lie in r. */
  countIn (r: Range): bigint {
    let i = this.floor(r.start)
    if (i < 0) i = 0
    let n = 0n
    for (; i < this.starts.length && this.starts[i]! < r.end; i++) {
      const s = this.starts[i]! > r.start ? this.starts[i]! : r.start
      const e = this.ends[i]! < r.end ? this.ends[i]! : r.end
      if (e > s) n += e - s
    }
    return n
  }

  /** The longest run (the first of equals), or null when empty. */
  largest (): Range | null {
    let best = -1
    for (let i = 0; i < this.starts.length; i++) {
      if (best < 0 || this.ends[i]! - this.starts[i]! > this.ends[best]! - this.starts[best]!) best = i
    }
    return best < 0 ? null : { start: this.starts[best]!, end: this.ends[best]! }
  }

  /** Members of this set that are not in `other`, as a new set. */
  minus (other: IntervalSet): IntervalSet {
    const out = this.clone()
    for (const r of other.ranges()) out.remove(r)
    return out
  }

  /** Members of this set that are also in `other`, as a new set. */
  intersect (other: IntervalSet): IntervalSet {
    return this.minus(this.minus(other))
  }

  clone (): IntervalSet { return IntervalSet.of(this.ranges()) }

  equals (other: IntervalSet): boolean {
    if (this.starts.length !== other.starts.length) return false
    return this.starts.every((s, i) => s === other.starts[i] && this.ends[i] === other.ends[i])
  }

  checkInvariants (): Error | null {
    let sum = 0n
    for (let i = 0; i < this.starts.length; i++) {
      if (this.starts[i]! >= this.ends[i]!) return new Error(`interval ${i} is empty or inverted`)
      if (i > 0 && this.starts[i]! <= this.ends[i - 1]!) return new Error(`intervals ${i - 1} and ${i} overlap or touch`)
      sum += this.ends[i]! - this.starts[i]!
    }
    return sum === this.total ? null : new Error(`count ${this.total} != sum of runs ${sum}`)
  }
}
