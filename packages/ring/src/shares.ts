/**
 * Even shares after init: when two peers trade free space, and how much. Pure arithmetic on sizes.
 *
 * The fair share is f = |U| / N over the N peers the ring knows (not removed). A peer asks a donor
 * whose share exceeds its own by at least GAP (a tenth of f); the donor gives at most what brings
 * the two halfway together, never taking itself below f - f/40 nor the asker above f + f/40, and
 * nothing smaller than f/64. Each such trade lowers the sum of squared shares by at least
 * f/64 * f/10, so trades stop, and they stop only when no two reachable peers differ by GAP or more:
 * then every share is within 10 % of the mean. Space a peer needs for pods (it owns nothing, or runs
 * low) is given in steps small enough not to start a trade back.
 */
import type { Range } from './types.ts'

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
  return { share, gap: max(share / 10n, 2n), slack: share / 40n, least: max(share / 64n, 1n) }
}

/** What a donor of share `donor` gives a peer of share `asker` to even them out; 0n: no trade. */
export function balanceGift (f: Fair, donor: bigint, asker: bigint): bigint {
  if (donor - asker < f.gap) return 0n
  const a = min(min(donor - f.share + f.slack, f.share + f.slack - asker), (donor - asker) / 2n)
  return a >= f.least ? a : 0n
}

/** What a donor gives a peer that needs space for pods: a step that leaves the two within half a GAP. */
export function needGift (f: Fair, donor: bigint, asker: bigint): bigint {
  const a = (donor - asker + f.gap / 2n) / 2n
  return a >= 1n ? a : 1n
}

/**
 * The range to give from free runs `runs` (sorted), at most `most` addresses: from the longest run,
 * its upper end, both ends aligned to a power of two at least an eighth of the gift, so the range is
 * a few large CIDR blocks. `touching`: ranges of the asker; a run that ends where one starts is
 * preferred, so the asker's space stays one run (one route) where it can. Null when nothing is free.
 */
export function pickGift (runs: readonly Range[], most: bigint, touching: readonly Range[]): Range | null {
  if (most < 1n || runs.length === 0) return null
  const len = (r: Range): bigint => r.end - r.start
  let longest = runs[0]!
  for (const r of runs) if (len(r) > len(longest)) longest = r
  const starts = new Set(touching.map(r => r.start))
  // A touching run is worth taking if it gives at least half of what the longest would.
  const touch = runs.find(r => starts.has(r.end) && len(r) * 2n >= min(len(longest), most))
  const run = touch ?? longest
  const want = min(len(run), most)
  const g = max(pow2Floor(want) / 8n, 1n)
  const hi = touch !== undefined ? run.end : run.end - run.end % g
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
