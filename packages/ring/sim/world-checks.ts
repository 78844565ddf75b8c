/**
 * The world's checks over its peers: exclusivity (and every peer's own invariants), one ring, and
 * convergence. A failed check is a Violation: the schedule found a bug.
 */
import type { Disk } from './disk.ts'
import type { Peer } from '../src/peer.ts'
import { statesEqual } from '../src/shape.ts'
import type { Offset, PeerId, RingState } from '../src/types.ts'
import { big } from './trace.ts'

/** A check failed: the schedule is wrong somewhere. */
export class Violation extends Error {
  override readonly name = 'Violation'
}

/** A schedule's own checks, as the world runs (reachability-schedule.ts). */
export interface Watch {
  /** Every up peer was just told whom it reaches. */
  reached (): void
  /** `by` decided that `dead` is taken over by `heir`. */
  decided (by: PeerId, dead: PeerId, heir: PeerId): void
}

/** What the checks read of a simulated node. */
export interface CheckedNode {
  readonly id: PeerId
  readonly state: 'up' | 'down' | 'dead'
  readonly peer: Peer<string> | null
  readonly disk: Disk
}

/**
 * No address held by two live peers (down peers count with what is on their disk); with `full`,
 * also every up peer's own invariants (ring coverage, space, their agreement), which each peer
 * already checks at the end of every call.
 */
export function checkExclusive (nodes: Iterable<CheckedNode>, full: boolean): void {
  const seen = new Map<Offset, PeerId>()
  for (const n of nodes) {
    if (n.state === 'dead') continue
    const allocs = n.peer?.allocations() ?? new Map(n.disk.load()?.allocations.map(a => [a.key, a]) ?? [])
    if (n.peer !== null) {
      const e = full ? n.peer.checkInvariants() : null
      if (e !== null) throw new Violation(`invariants of ${n.id}: ${e.message}`)
      if (n.peer.removedBy() !== null) continue
    }
    for (const { offset: o } of allocs.values()) {
      const other = seen.get(o)
      if (other !== undefined) throw new Violation(`exclusivity: offset ${o} allocated on ${other} and ${n.id}`)
      seen.set(o, n.id)
    }
  }
}

/** Every ring, live or on a down peer's disk, was split by one decision: one seed list at most. */
export function checkOneRing (nodes: Iterable<CheckedNode>): void {
  let first: readonly [PeerId, string] | null = null
  for (const n of nodes) {
    if (n.state === 'dead') continue
    const seeds = (n.peer?.ring() ?? n.disk.load()?.ring)?.seeds ?? []
    if (seeds.length === 0) continue
    const key = seeds.join(',')
    if (first === null) first = [n.id, key]
    else if (first[1] !== key) throw new Violation(`one ring: ${first[0]} holds the ring seeded by [${first[1]}], ${n.id} the one seeded by [${key}]`)
  }
}

/** Rings of all up, not removed peers; throws unless they are identical. */
export function checkConverged (nodes: Iterable<CheckedNode>): void {
  let first: readonly [PeerId, RingState] | null = null
  for (const n of nodes) {
    if (n.state !== 'up' || n.peer!.removedBy() !== null) continue
    const r = n.peer!.ring()
    if (first === null) first = [n.id, r]
    else if (!statesEqual(first[1], r)) throw new Violation(`convergence: rings of ${first[0]} and ${n.id} differ: ${firstDifference(first[1], r)}`)
  }
}

/** The first part in which two ring states differ, for a violation report. */
function firstDifference (a: RingState, b: RingState): string {
  for (const k of ['seeds', 'entries', 'members', 'removed'] as const) {
    const [x, y] = [a[k], b[k]].map(v => v.map(i => JSON.stringify(i, big)))
    const i = x!.findIndex((v, j) => v !== y![j])
    if (i >= 0 || x!.length !== y!.length) return `${k}[${i < 0 ? x!.length : i}]: ${x![i] ?? '-'} vs ${y![i < 0 ? x!.length : i] ?? '-'}`
  }
  return 'universe'
}

/** checkConverged as a question: false for a divergence, any other error rethrown. */
export function isConverged (nodes: Iterable<CheckedNode>): boolean {
  try {
    checkConverged(nodes)
    return true
  } catch (e) {
    if (e instanceof Violation) return false
    throw e
  }
}
