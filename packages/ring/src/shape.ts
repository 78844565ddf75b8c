/** A ring state's structure: the checks every persisted or received ring must pass, and equality. */
import { type Universe, canonicalAddress } from './address.ts'
import { DifferentUniverseError, RingError } from './errors.ts'
import type { Entry, Member, Removal, RingPart, RingState } from './types.ts'

export const sameEntry = (a: Entry, b: Entry): boolean =>
  a.token === b.token && a.owner === b.owner && a.version === b.version

const badVersion = (v: number): boolean => !Number.isSafeInteger(v) || v < 1
const badOwner = (o: string): boolean => typeof o !== 'string' || o.length === 0

/**
 * Structural checks shared by local invariants and validation of received rings: entries start at
 * 0, are sorted and normalized (no two adjacent ones with one owner and version).
 */
export function validateState (u: Universe, s: RingState): Error | null {
  if (s.universe !== u.cidr) return new DifferentUniverseError(`ring is for ${s.universe}, this peer's range is ${u.cidr}`)
  if (s.entries.length > 0 && s.entries[0]!.token !== 0n) return new RingError(`entry 0: the first token is ${s.entries[0]!.token}, not 0`)
  for (let i = 0; i < s.entries.length; i++) {
    const e = s.entries[i]!
    if (typeof e.token !== 'bigint' || e.token < 0n || e.token >= u.size) return new RingError(`entry ${i}: token ${e.token} outside the range`)
    if (i > 0 && e.token <= s.entries[i - 1]!.token) return new RingError(`entry ${i}: tokens not sorted or repeated at ${e.token}`)
    if (badVersion(e.version)) return new RingError(`entry ${i}: bad version ${e.version}`)
    if (badOwner(e.owner)) return new RingError(`entry ${i}: empty owner`)
    if (i > 0 && e.owner === s.entries[i - 1]!.owner && e.version === s.entries[i - 1]!.version) return new RingError(`entry ${i}: same owner and version as the entry before (not normalized)`)
  }
  if (s.entries.length > 0 && s.seeds.length === 0) return new RingError('ring has entries but no seeds')
  return validateRest(s)
}

/** A part of a ring: runs sorted, disjoint, non-empty and inside the universe; the rest as in a ring. */
export function validatePart (u: Universe, s: RingPart): Error | null {
  if (s.universe !== u.cidr) return new DifferentUniverseError(`ring is for ${s.universe}, this peer's range is ${u.cidr}`)
  for (let i = 0; i < s.runs.length; i++) {
    const { range, owner, version } = s.runs[i]!
    if (typeof range.start !== 'bigint' || typeof range.end !== 'bigint' || range.start < 0n || range.end > u.size || range.start >= range.end) {
      return new RingError(`run ${i}: [${range.start}, ${range.end}) is not a non-empty range inside the universe`)
    }
    if (i > 0 && range.start < s.runs[i - 1]!.range.end) return new RingError(`run ${i}: runs not sorted or overlapping at ${range.start}`)
    if (badVersion(version)) return new RingError(`run ${i}: bad version ${version}`)
    if (badOwner(owner)) return new RingError(`run ${i}: empty owner`)
  }
  return validateRest(s)
}

const badStamp = (v: number): boolean => !Number.isSafeInteger(v) || v < 0

function validateRest (s: { readonly seeds: readonly string[], readonly members: readonly Member[], readonly removed: readonly Removal[], readonly floor: number, readonly level: number }): Error | null {
  if (badStamp(s.floor) || badStamp(s.level)) return new RingError(`bad floor ${s.floor} or level ${s.level}`)
  if (s.floor > s.level) return new RingError(`floor ${s.floor} above the level ${s.level}`)
  for (let i = 1; i < s.seeds.length; i++) {
    if (s.seeds[i]! <= s.seeds[i - 1]!) return new RingError('seeds not sorted or repeated')
  }
  for (let i = 0; i < s.members.length; i++) {
    const m = s.members[i]!
    if (typeof m.peer !== 'string' || m.peer.length === 0) return new RingError(`member ${i}: empty peer id`)
    if (i > 0 && m.peer <= s.members[i - 1]!.peer) return new RingError(`member ${i}: not sorted or repeated`)
    if (!Number.isSafeInteger(m.version) || m.version < 1) return new RingError(`member ${m.peer}: bad version`)
    if (typeof m.nickname !== 'string') return new RingError(`member ${m.peer}: bad nickname`)
    if (badStamp(m.since) || m.since > s.level) return new RingError(`member ${m.peer}: stamp ${m.since} is not a level up to ${s.level}`)
    if (badStamp(m.born) || m.born > m.since) return new RingError(`member ${m.peer}: born at ${m.born}, after its stamp ${m.since}`)
    if (m.address !== undefined && canonicalAddress(m.address) !== m.address) return new RingError(`member ${m.peer}: "${m.address}" is not an IP address in canonical form`)
    for (let j = 1; j < m.acks.length; j++) {
      if (m.acks[j]! <= m.acks[j - 1]!) return new RingError(`member ${m.peer}: acks not sorted`)
    }
  }
  for (let i = 0; i < s.removed.length; i++) {
    const r = s.removed[i]!
    if (r.peer === r.heir) return new RingError(`removal of ${r.peer}: a peer cannot be its own heir`)
    if (i > 0 && r.peer <= s.removed[i - 1]!.peer) return new RingError(`removal ${i}: not sorted or repeated`)
    if (r.done !== undefined && (badStamp(r.done) || r.done < 1 || r.done > s.level)) return new RingError(`removal of ${r.peer}: completion stamp ${r.done} is not between 1 and the level ${s.level}`)
  }
  return null
}

/** Structural equality of two ring states. */
export function statesEqual (a: RingState, b: RingState): boolean {
  if (a.universe !== b.universe || a.seeds.length !== b.seeds.length || a.entries.length !== b.entries.length ||
    a.members.length !== b.members.length || a.removed.length !== b.removed.length || a.floor !== b.floor || a.level !== b.level) return false
  if (a.seeds.some((s, i) => s !== b.seeds[i])) return false
  if (a.entries.some((e, i) => !sameEntry(e, b.entries[i]!))) return false
  if (a.members.some((m, i) => {
    const n = b.members[i]!
    return m.peer !== n.peer || m.version !== n.version || m.nickname !== n.nickname || m.address !== n.address || m.since !== n.since || m.born !== n.born || m.acks.join(',') !== n.acks.join(',')
  })) return false
  return a.removed.every((r, i) => r.peer === b.removed[i]!.peer && r.heir === b.removed[i]!.heir && r.done === b.removed[i]!.done)
}
