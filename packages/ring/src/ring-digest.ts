/**
 * Ring states in brief, for gossip that sends what changed: a state's digest (tells two peers
 * whether they hold the same ring, and which of two different ones is behind), a seed list's
 * fingerprint (tells whether a delta belongs to this ring), and the delta between two states.
 */
import { changedRuns, runsOf } from './runs.ts'
import type { Digest, Member, PeerId, Removal, RingPart, RingState } from './types.ts'

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

const removalText = (r: Removal): string => `${r.peer} ${r.heir}${r.done !== undefined ? ` done ${r.done}` : ''}`
const memberText = (m: Member): string => `${m.peer} ${m.nickname} ${m.version} ${m.address ?? ''} ${m.acks.join(',')} ${m.since} ${m.born}`

/** Above every sum of the other parts (versions below 2^53 over at most 2^128 addresses, and records). */
const REMOVALS_SHIFT = 200n
/** Above the removals (fewer than 2^56 of them): raising the floor compacts removals away. */
const FLOOR_SHIFT = 256n

/**
 * Entries are normalized, so equal maps hash the same. The weight counts each address's version
 * (`size`: the universe's addresses): a join or a write raises some address's version or leaves it,
 * never lowers it (a coalescing write included, where a sum of the entries' versions would fall);
 * member records only rise too. Removals weigh above all that: completing one drops the dead
 * peer's record, which the completion outweighs. The floor weighs above everything: raising it drops
 * completed removals and records.
 */
export function digestOf (s: RingState, size: bigint): Digest {
  const h = new Hasher().add(s.universe).add(s.seeds.join(',')).add(`${s.floor} ${s.level}`)
  let weight = 0n
  for (const r of runsOf(s.entries, size)) {
    h.add(`${r.range.start} ${r.owner} ${r.version}`)
    weight += BigInt(r.version) * (r.range.end - r.range.start)
  }
  h.add('|')
  for (const m of s.members) { h.add(memberText(m)); weight += BigInt(m.version) }
  h.add('|')
  let removals = 0n
  for (const r of s.removed) { h.add(removalText(r)); removals += r.done !== undefined ? 2n : 1n }
  return { hash: h.value(), weight: (BigInt(s.floor) << FLOOR_SHIFT) + (removals << REMOVALS_SHIFT) + weight }
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
 * What `after` holds that `before` does not: the pieces of its runs where `before` holds another
 * owner or version (each with its range, so a receiver learns nothing of its neighbours), member
 * records and removals that are new or changed. Joined into `before`, it gives `after`. Seeds only
 * when `before` had none (the first split: then the runs cover the universe).
 */
export function deltaOf (before: RingState, after: RingState, size: bigint): RingPart {
  const oldMembers = new Map<PeerId, Member>(before.members.map(m => [m.peer, m]))
  const oldRemoved = new Set(before.removed.map(removalText))
  return {
    universe: after.universe,
    seeds: before.seeds.length === 0 ? after.seeds : [],
    runs: before.entries.length === 0 ? runsOf(after.entries, size) : changedRuns(runsOf(before.entries, size), runsOf(after.entries, size)),
    members: after.members.filter(m => { const o = oldMembers.get(m.peer); return o === undefined || memberText(o) !== memberText(m) }),
    removed: after.removed.filter(r => !oldRemoved.has(removalText(r))),
    floor: after.floor,
    level: after.level
  }
}

/** Whether a delta carries nothing. */
export const emptyDelta = (d: RingPart): boolean => d.seeds.length === 0 && d.runs.length === 0 && d.members.length === 0 && d.removed.length === 0
