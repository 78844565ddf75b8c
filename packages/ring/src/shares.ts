/**
 * Even shares after init: when two peers trade free space, and how much. Pure arithmetic on sizes.
 *
 * The fair share is f = |U| / N over the N peers the ring knows (not removed). A peer asks a donor
 * whose share exceeds its own by at least GAP (a tenth of f); the donor gives at most what brings
 * the two halfway together, never taking itself below f - f/20 nor the asker above f + f/20, and
 * nothing smaller than f/32. Each such trade lowers the sum of squared shares by at least
 * f/32 * f/10, so trades stop, and they stop only when no two reachable peers differ by GAP or more:
 * then every share is within 10 % of the mean (for shares of 320 addresses or more: a trade is never
 * under MIN_TRADE addresses, nor the gap). Space a peer needs for pods (it owns nothing, or runs
 * low) is given in steps small enough not to start a trade back.
 */
import type { Offset, Range } from './types.ts'

/** The smallest trade, and the smallest gap, in addresses. */
export const MIN_TRADE = 16n

export interface Fair {
  /** |U| / N. */
  readonly share: bigint
  /** Two peers whose shares differ by this much or more trade. */
  readonly gap: bigint
  /** How far past the fair share a trade may take either side. */
  readonly slack: bigint
  /** The smallest trade worth a ring entry. */
  readonly least: bigint
}

export function fairOf (universeSize: bigint, peers: number): Fair {
  const share = universeSize / BigInt(Math.max(1, peers))
  // A trade of a few addresses is not worth a ring entry: none under MIN_TRADE, whatever the share.
  return { share, gap: max(share / 10n, MIN_TRADE), slack: share / 20n, least: max(share / 32n, MIN_TRADE) }
}

/** What a donor of share `donor` gives a peer of share `asker` to even them out; 0n: no trade. */
export function balanceGift (f: Fair, donor: bigint, asker: bigint): bigint {
  if (donor - asker < f.gap) return 0n
  const a = min(min(donor - f.share + f.slack, f.share + f.slack - asker), (donor - asker) / 2n)
  return a >= f.least ? a : 0n
}

/** A peer another may ask for space, and how much it would give (a trade's size, or a free count). */
export interface Donor<P extends string> {
  readonly peer: P
  readonly gives: bigint
}

/**
 * The peers (not `self`) whose share would give one of share `mine` a trade, with the trade's size,
 * largest first and equal ones in id order. A larger donor never gives less (balanceGift grows with
 * it), so the list is every share down to the first too small.
 */
export function donorsFor<P extends string> (f: Fair, shares: ReadonlyMap<P, bigint>, self: P, mine: bigint): Array<Donor<P>> {
  return [...shares].flatMap(([peer, size]) => {
    const gives = peer === self ? 0n : balanceGift(f, size, mine)
    return gives > 0n ? [{ peer, gives }] : []
  }).sort((a, b) => (a.gives > b.gives ? -1 : a.gives < b.gives ? 1 : a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
}

/**
 * The donor to ask among `donors`: one drawn uniformly (`random` in [0, 1)) from those giving at
 * least half what the best gives. Peers that see the same ring see the same best donor; if all asked
 * it (joiners after a split, or after a removal), it would grant one and deny the rest, and they
 * would move on together to the next, one trade per round. Spread out, they trade in parallel.
 */
export function pickDonor<P extends string> (donors: ReadonlyArray<Donor<P>>, random: () => number): P | null {
  let top = 0n
  for (const d of donors) if (d.gives > top) top = d.gives
  const near = donors.filter(d => 2n * d.gives >= top && d.gives > 0n)
  return near[Math.min(near.length - 1, Math.floor(random() * near.length))]?.peer ?? null
}

/** What a donor gives a peer that needs space for pods: a step that leaves the two within half a GAP. */
export function needGift (f: Fair, donor: bigint, asker: bigint): bigint {
  const a = (donor - asker + f.gap / 2n) / 2n
  return a >= 1n ? a : 1n
}

/**
 * The range to give from free runs `runs` (sorted), at most `most` addresses, from the longest run
 * or, if it gives at least half as much, a run that ends where a range of the asker (`touching`)
 * starts, so the asker's space stays one run, one route. Ring entries are never deleted, so a gift
 * costs up to two new ones unless its ends are boundaries the ring has already (`free`: existing
 * tokens, and the end of the universe): the first choice is a range between two of them giving at
 * least half of `most`; then one ending at one of them; else the run's upper end with both ends
 * aligned to a power of two at least an eighth of the gift, so the range is a few large CIDR blocks.
 * Null when nothing is free.
 */
export function pickGift (runs: readonly Range[], most: bigint, touching: readonly Range[], free: readonly Offset[]): Range | null {
  if (most < 1n || runs.length === 0) return null
  const len = (r: Range): bigint => r.end - r.start
  let longest = runs[0]!
  for (const r of runs) if (len(r) > len(longest)) longest = r
  const starts = new Set(touching.map(r => r.start))
  const touch = runs.find(r => starts.has(r.end) && len(r) * 2n >= min(len(longest), most))
  const run = touch ?? longest
  const want = min(len(run), most)
  const within = (r: Range): Offset[] => free.filter(t => t >= r.start && t <= r.end)
  // Whole entries first, from any run: a gift between two boundaries costs no new entry.
  for (const r of [run, ...runs.filter(x => x !== run)]) {
    const inside = within(r)
    const ends = r === touch ? [r.end] : inside.filter(t => t > r.start).reverse()
    for (const y of ends) {
      const x = inside.find(t => t < y && y - t <= most && 2n * (y - t) >= want)
      if (x !== undefined) return { start: x, end: y }
    }
  }
  const inside = within(run)
  const ends = touch !== undefined ? [run.end] : inside.filter(t => t > run.start).reverse()
  const g = max(pow2Floor(want) / 8n, 1n)
  const end = ends.find(y => 2n * (y - run.start) >= want)
  if (end !== undefined) {
    const from = end - min(want, end - run.start)
    const start = from + (g - from % g) % g
    return { start: start < end ? start : from, end }
  }
  const hi = run.end - run.end % g
  const lo = run.start + (g - run.start % g) % g
  const room = hi > lo ? hi - lo : 0n
  const size = min(want - want % g, room - room % g)
  if (size >= g) return { start: hi - size, end: hi }
  // Too short a run to align: its upper part as it is.
  return { start: run.end - want, end: run.end }
}

function pow2Floor (n: bigint): bigint {
  let p = 1n
  while (p * 2n <= n) p *= 2n
  return p
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b)
