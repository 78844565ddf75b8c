/** How even the shares are that an agent's status shows: what the share tests and the share bench measure. */
import type { StatusResponse } from '@weft/protocol'

export interface Spread {
  readonly owners: number
  /** Largest and smallest share over the mean (range size / owners). */
  readonly maxRatio: number
  readonly minRatio: number
  /** Addresses of all owners together: the range size when the ring covers it. */
  readonly total: bigint
}

export function spreadOf (status: StatusResponse): Spread {
  const sizes = status.peers.map(p => BigInt(p.addresses))
  const mean = Number(BigInt(status.rangeSize)) / Math.max(1, sizes.length)
  const ratios = sizes.map(s => Number(s) / mean)
  return { owners: sizes.length, maxRatio: Math.max(...ratios), minRatio: Math.min(...ratios), total: sizes.reduce((a, b) => a + b, 0n) }
}

/** Every share within `tolerance` (relative) of the mean, over `owners` owners covering the range. */
export const evenWithin = (s: Spread, owners: number, size: bigint, tolerance: number): boolean =>
  s.owners === owners && s.total === size && s.maxRatio <= 1 + tolerance && s.minRatio >= 1 - tolerance
