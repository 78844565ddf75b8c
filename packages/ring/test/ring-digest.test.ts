import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Ring, statesEqual } from '../src/internal.ts'
import type { RingState } from '../src/internal.ts'
import { deltaOf, digestOf, sameDigest } from '../src/ring-digest.ts'
import { PEERS, merged, replicaStates, universe } from './ring-arbitrary.ts'

const size = universe.size

/**
 * Whether two states name one heir for every peer both hold a removal of. A peer is taken over once
 * (one decision); two heirs are the safety violation the simulator looks for, and the merge then
 * keeps the smaller heir without the other's completion, which may weigh less (seed 180299282 found
 * that): not a state whose digest needs to order.
 */
function oneHeirEach (a: RingState, b: RingState): boolean {
  const heirs = new Map(a.removed.map(r => [r.peer, r.heir]))
  return b.removed.every(r => (heirs.get(r.peer) ?? r.heir) === r.heir)
}

describe('ring digests and deltas', () => {
  it('equal states have equal digests; a merge never lowers the weight, and a different state has another digest', () => {
    fc.assert(fc.property(replicaStates, ([a, b]) => {
      fc.pre(oneHeirEach(a, b))
      const ab = merged(a, b)
      expect(sameDigest(digestOf(a, size), digestOf(Ring.fromState(universe, a).toState(), size))).toBe(true)
      const [wa, wb, wab] = [a, b, ab].map(s => digestOf(s, size).weight)
      expect(wab! >= wa! && wab! >= wb!).toBe(true)
      if (!statesEqual(a, ab)) expect(sameDigest(digestOf(a, size), digestOf(ab, size))).toBe(false)
    }), { numRuns: 300 })
  })

  it('a write raises the weight, a coalescing one too (a sum of entry versions would fall)', () => {
    const r = Ring.empty(universe)
    r.claimForPeers(PEERS.slice(0, 2))
    const [a, b] = [PEERS[0]!, PEERS[1]!]
    r.give({ start: 100n, end: 200n }, a, b)
    r.give({ start: 300n, end: 400n }, a, b)
    r.give({ start: 200n, end: 300n }, a, b)
    const before = digestOf(r.toState(), size).weight
    expect(r.entries().filter(e => e.owner === b).length).toBe(4)
    expect(r.coalesce(b)).toBe(true)
    expect(r.entries().filter(e => e.owner === b).map(e => e.token)).toEqual([100n, 2048n])
    expect(digestOf(r.toState(), size).weight > before).toBe(true)
  })

  it('merging the delta from a state to a later one gives the later one', () => {
    fc.assert(fc.property(replicaStates, ([a, b]) => {
      const later = merged(a, b)
      const r = Ring.fromState(universe, a)
      r.mergePart({ ...deltaOf(a, later, size), seeds: a.seeds }, PEERS[0]!, () => false, PEERS[1]!)
      expect(statesEqual(r.toState(), later)).toBe(true)
    }), { numRuns: 300 })
  })

  it('a delta carries the runs that changed with their ranges, and nothing of their neighbours', () => {
    const r = Ring.empty(universe)
    r.claimForPeers(PEERS.slice(0, 2))
    const [a, b] = [PEERS[0]!, PEERS[1]!]
    r.give({ start: 100n, end: 200n }, a, b)
    const before = r.toState()
    r.give({ start: 50n, end: 100n }, a, b)
    const part = deltaOf(before, r.toState(), size)
    expect(part.runs.map(x => [x.range.start, x.range.end, x.owner])).toEqual([[50n, 100n, b]])
    // The receiver of that part alone learns [50, 100) and keeps its view of [100, 200).
    const stale = Ring.empty(universe)
    stale.claimForPeers(PEERS.slice(0, 2))
    stale.mergePart(part, a, () => false, a)
    expect(stale.rangesOf(b)).toEqual([{ start: 50n, end: 100n }, { start: 2048n, end: 4096n }])
  })
})
