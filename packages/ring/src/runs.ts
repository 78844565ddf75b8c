/**
 * Ownership as runs: a ring's entries read as explicit ranges, the pointwise join of two such maps,
 * and normalized entries back. The ring is a map from every address to (owner, version); entries
 * are its maximal runs of one (owner, version), so two maps are equal exactly when their entries are.
 */
import { spansOf } from './spans.ts'
import type { Entry, Range, Run } from './types.ts'

const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Where `a` and `b` overlap; empty (start >= end) if they do not. */
const intersection = (a: Range, b: Range): Range =>
  ({ start: a.start > b.start ? a.start : b.start, end: a.end < b.end ? a.end : b.end })

/** Of two values at one address, the one every replica keeps: the higher version, then the larger owner id. */
export function later<T extends Pick<Run, 'owner' | 'version'>> (a: T, b: T): T {
  if (a.version !== b.version) return a.version > b.version ? a : b
  return cmpStr(a.owner, b.owner) >= 0 ? a : b
}

/** Entries (the first at 0, each up to the next token or the end) as runs covering [0, size). */
export function runsOf (entries: readonly Entry[], size: bigint): Run[] {
  return spansOf(size, entries).map(({ entry, range }) => ({ range, owner: entry.owner, version: entry.version }))
}

/** Runs covering the universe in order, as entries: adjacent runs of one owner and version are one entry. */
export function entriesOf (runs: readonly Run[]): Entry[] {
  const out: Entry[] = []
  for (const r of runs) {
    const last = out[out.length - 1]
    if (last !== undefined && last.owner === r.owner && last.version === r.version) continue
    out.push({ token: r.range.start, owner: r.owner, version: r.version })
  }
  return out
}

/**
 * `base` (covering runs, in order) with sorted disjoint `top` runs laid over it: where a top run
 * covers an address, `pick(base's value, top's)` holds there. With `later` that is the join of the
 * two maps (a write with a version above every one is just a join); with `(_, t) => t`, a replacement.
 */
export function overlay (base: readonly Run[], top: readonly Run[], pick: (b: Run, t: Run) => Run = later): Run[] {
  const out: Run[] = []
  const piece = (r: Run, start: bigint, end: bigint): void => { if (start < end) out.push({ range: { start, end }, owner: r.owner, version: r.version }) }
  let j = 0
  for (const b of base) {
    let at = b.range.start
    while (j < top.length && top[j]!.range.end <= at) j++
    for (let k = j; k < top.length && top[k]!.range.start < b.range.end; k++) {
      const t = top[k]!
      const { start, end } = intersection(t.range, { start: at, end: b.range.end })
      piece(b, at, start)
      piece(pick(b, t), start, end)
      at = end
    }
    piece(b, at, b.range.end)
  }
  return out
}

/** The runs of `runs` clipped to `range`. */
export function clip (runs: readonly Run[], range: Range): Run[] {
  const out: Run[] = []
  for (const r of runs) {
    const { start, end } = intersection(r.range, range)
    if (start < end) out.push({ range: { start, end }, owner: r.owner, version: r.version })
  }
  return out
}

/**
 * The pieces of `after` where `before` holds another value (both covering, in order): what a
 * receiver holding `before` lacks of `after`. Adjacent pieces of one run of `after` stay one run.
 */
export function changedRuns (before: readonly Run[], after: readonly Run[]): Run[] {
  const out: Run[] = []
  let i = 0
  for (const a of after) {
    while (i < before.length && before[i]!.range.end <= a.range.start) i++
    for (let k = i; k < before.length && before[k]!.range.start < a.range.end; k++) {
      const b = before[k]!
      if (b.owner === a.owner && b.version === a.version) continue
      const { start, end } = intersection(b.range, a.range)
      const last = out[out.length - 1]
      if (last !== undefined && last.range.end === start && last.owner === a.owner && last.version === a.version) out[out.length - 1] = { ...last, range: { start: last.range.start, end } }
      else out.push({ range: { start, end }, owner: a.owner, version: a.version })
    }
  }
  return out
}
