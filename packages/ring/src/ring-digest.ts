/**
 * Ring states in brief, for gossip that sends what changed: a state's digest (tells two peers
 * whether they hold the same ring, and which of two different ones is behind), a seed list's
 * fingerprint (tells whether a delta belongs to this ring), and the delta between two states.
 */
import { sameEntry } from './shape.ts'
import type { Digest, Entry, Member, Offset, PeerId, Removal, RingState } from './types.ts'

/** Two 32-bit FNV-1a hashes with different offsets, read as one 64-bit value. */
class Hasher {
  private a = 0x811c9dc5
  private b = 0x6a09e667

  add (text: string): this {
    let a = this.a
    let b = this.b
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      a = Math.imul(a ^ c, 0x01000193)
      b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15)
    }
    // A separator after every field, so that ("ab", "c") and ("a", "bc") differ.
    this.a = Math.imul(a ^ 0x1f, 0x01000193)
    this.b = Math.imul(b ^ 0x1f, 0x01000193) ^ (b >>> 15)
    return this
  }

  value (): bigint {
    return (BigInt(this.a >>> 0) << 32n) | BigInt(this.b >>> 0)
  }
}

const removalText = (r: Removal): string => `${r.peer} ${r.heir}${r.done === true ? ' done' : ''}`
const memberText = (m: Member): string => `${m.peer} ${m.nickname} ${m.version} ${m.address ?? ''} ${m.acks.join(',')}`

export function digestOf (s: RingState): Digest {
  const h = new Hasher().add(s.universe).add(s.seeds.join(','))
  let weight = 0
  for (const e of s.entries) { h.add(`${e.token} ${e.owner} ${e.version}`); weight += e.version }
  h.add('|')
  for (const m of s.members) { h.add(memberText(m)); weight += m.version }
  h.add('|')
  for (const r of s.removed) { h.add(removalText(r)); weight += r.done === true ? 2 : 1 }
  return { hash: h.value(), weight }
}

export const sameDigest = (a: Digest, b: Digest): boolean => a.hash === b.hash && a.weight === b.weight

const fingerprints = new WeakMap<readonly PeerId[], number>()

/** The seed list's fingerprint: a delta names its ring by it (32 bits; the list itself is long). */
export function seedsFingerprint (seeds: readonly PeerId[]): number {
  let fp = fingerprints.get(seeds)
  if (fp === undefined) {
    fp = Number(new Hasher().add(seeds.join(',')).value() & 0xffffffffn)
    fingerprints.set(seeds, fp)
  }
  return fp
}

/**
 * What `after` holds that `before` does not: entries, member records and removals that are new or
 * changed, in the shape of a ring state. Seeds only when `before` had none (the first split).
 * Each changed entry comes with the entry after it, so a peer given a range learns where it ends.
 */
export function deltaOf (before: RingState, after: RingState): RingState {
  const oldEntries = new Map<bigint, Entry>(before.entries.map(e => [e.token, e]))
  const oldMembers = new Map<PeerId, Member>(before.members.map(m => [m.peer, m]))
  const oldRemoved = new Set(before.removed.map(removalText))
  const n = after.entries.length
  const changed = after.entries.map(e => { const o = oldEntries.get(e.token); return o === undefined || !sameEntry(o, e) })
  return {
    universe: after.universe,
    seeds: before.seeds.length === 0 ? after.seeds : [],
    entries: after.entries.filter((_, i) => changed[i] === true || changed[(i + n - 1) % n] === true),
    members: after.members.filter(m => { const o = oldMembers.get(m.peer); return o === undefined || memberText(o) !== memberText(m) }),
    removed: after.removed.filter(r => !oldRemoved.has(removalText(r)))
  }
}

/**
 * The tokens that end the entries of `part` in `after` and are not in `part` themselves. An entry
 * owns up to the next token, so a peer merges a delta only once it knows every one of these: a view
 * pieced together from deltas then never stretches an entry past where it ended when it was
 * written (the simulator found a peer that missed its grant, heard of the entry from a later delta,
 * and allocated past it).
 */
export function boundsOf (part: RingState, after: RingState): Offset[] {
  const inPart = new Set(part.entries.map(e => e.token))
  const index = new Map(after.entries.map((e, i) => [e.token, i]))
  const out = new Set<Offset>()
  for (const e of part.entries) {
    const i = index.get(e.token)
    if (i === undefined) continue
    const next = after.entries[(i + 1) % after.entries.length]!.token
    if (!inPart.has(next)) out.add(next)
  }
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Whether a delta carries nothing. */
export const emptyDelta = (d: RingState): boolean => d.seeds.length === 0 && d.entries.length === 0 && d.members.length === 0 && d.removed.length === 0
