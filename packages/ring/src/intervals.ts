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
    this.starts.splice(i, j - i, start)
    this.ends.splice(i, j - i, end)
    this.total += end - start
  }

  remove (r: Range): void {
    if (r.start >= r.end) return
    let i = this.floor(r.start)
    if (i < 0 || this.ends[i]! <= r.start) i++
    const newStarts: bigint[] = []
    const newEnds: bigint[] = []
    let j = i
    while (j < this.starts.length && this.starts[j]! < r.end) {
      const s = this.starts[j]!
      const e = this.ends[j]!
      this.total -= e - s
      if (s < r.start) { newStarts.push(s); newEnds.push(r.start) }
      if (e > r.end) { newStarts.push(r.end); newEnds.push(e) }
      j++
    }
    for (let k = 0; k < newStarts.length; k++) this.total += newEnds[k]! - newStarts[k]!
    this.starts.splice(i, j - i, ...newStarts)
    this.ends.splice(i, j - i, ...newEnds)
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
