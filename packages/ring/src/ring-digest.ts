/**
 * Ring states in brief, for gossip that sends what changed: a state's digest (tells two peers
 * whether they hold the same ring, and which of two different ones is behind), a seed list's
 * fingerprint (tells whether a delta belongs to this ring), and the delta between two states.
 */
import { sameEntry } from './shape.ts'
import type { Digest, Entry, Member, PeerId, Removal, RingState } from './types.ts'

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
 * Each changed entry comes with the entries after it up to the first of another owner, changed or
 * not: an entry owns up to the next token, so a peer given a range must learn where that owner's
 * space ends, even if it never heard of those tokens (the simulator found a peer allocating past
 * its grant). Entries of removed peers count as anyone's here, so the run goes on past them.
 */
export function deltaOf (before: RingState, after: RingState): RingState {
  const oldEntries = new Map<bigint, Entry>(before.entries.map(e => [e.token, e]))
  const oldMembers = new Map<PeerId, Member>(before.members.map(m => [m.peer, m]))
  const oldRemoved = new Set(before.removed.map(removalText))
  const es = after.entries
  const removed = new Set(after.removed.map(r => r.peer))
  const keep = es.map(e => { const o = oldEntries.get(e.token); return o === undefined || !sameEntry(o, e) })
  for (let i = 0; i < es.length; i++) {
    if (oldEntries.get(es[i]!.token) !== undefined && sameEntry(oldEntries.get(es[i]!.token)!, es[i]!)) continue
    const owner = es[i]!.owner
    // Bounded by the number of entries: the run stops at the first entry of another, live owner.
    for (let k = 1; k < es.length; k++) {
      const next = es[(i + k) % es.length]!
      keep[(i + k) % es.length] = true
      if (next.owner !== owner && !removed.has(next.owner)) break
    }
  }
  return {
    universe: after.universe,
    seeds: before.seeds.length === 0 ? after.seeds : [],
    entries: es.filter((_, i) => keep[i] === true),
    members: after.members.filter(m => { const o = oldMembers.get(m.peer); return o === undefined || memberText(o) !== memberText(m) }),
    removed: after.removed.filter(r => !oldRemoved.has(removalText(r)))
  }
}

/** Whether a delta carries nothing. */
export const emptyDelta = (d: RingState): boolean => d.seeds.length === 0 && d.entries.length === 0 && d.members.length === 0 && d.removed.length === 0
