/**
 * A ring persisted by codec versions 1 to 3 as this version's. Those rings merged per token: an
 * address belonged to the entry of the largest token at or below it (the last one also wrapping
 * to the start), and of two copies of a token the higher version won. So of two such rings, the one
 * that knows more has, at every address, a covering token at least as large and, for the same token,
 * a version at least as high: the pair (covering token, version) in that order only grows as a
 * replica learns. Read as this version's version, that pair keeps the order (`legacyVersion`), so
 * rings that agents upgraded one by one, stale or not, join as the old merge would have joined them.
 */
import { parseUniverse } from './address.ts'
import { DecodeError } from './errors.ts'
import { WRITE_STEP } from './ring.ts'
import { entriesOf } from './runs.ts'
import type { Offset, RingState, Run } from './types.ts'

/**
 * Old versions are below 2^16; tokens keep their top 32 bits (all of them in IPv4 universes); the
 * pair is a write step's multiple (ring.ts), so upgraded versions stay below 2^52 and leave room for
 * new writes.
 */
const VERSION_BITS = 16n
const TOKEN_BITS = 32n

/**
 * (token, version) as one safe integer, ordered as the pair, in write steps. Exact for every IPv4 universe; in a
 * larger universe two tokens that share their top 32 bits compare by version alone.
 */
function legacyVersion (token: Offset, version: number, shift: bigint): number {
  if (version >= 2 ** Number(VERSION_BITS)) throw new DecodeError(`ring: version ${version} of token ${token} is too large to upgrade`)
  return Number((((token >> shift) << VERSION_BITS) + BigInt(version)) * BigInt(WRITE_STEP))
}

export function upgradeRing (s: RingState): RingState {
  if (s.entries.length === 0) return s
  const size = parseUniverse(s.universe).size
  const bits = BigInt((size - 1n).toString(2).length)
  const shift = bits > TOKEN_BITS ? bits - TOKEN_BITS : 0n
  const runs: Run[] = []
  const last = s.entries[s.entries.length - 1]!
  // The last entry's wrap, [0, first token), is covered by the last token.
  if (s.entries[0]!.token > 0n) runs.push({ range: { start: 0n, end: s.entries[0]!.token }, owner: last.owner, version: legacyVersion(last.token, last.version, shift) })
  s.entries.forEach((e, i) => {
    runs.push({ range: { start: e.token, end: s.entries[i + 1]?.token ?? size }, owner: e.owner, version: legacyVersion(e.token, e.version, shift) })
  })
  return { ...s, entries: entriesOf(runs) }
}
