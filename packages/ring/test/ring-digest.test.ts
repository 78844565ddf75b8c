import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Ring, statesEqual } from '../src/internal.ts'
import { deltaOf, digestOf, sameDigest } from '../src/ring-digest.ts'
import { PEERS, merged, replicaStates, universe } from './ring-arbitrary.ts'

describe('ring digests and deltas', () => {
  it('equal states have equal digests; a merge never lowers the weight, and a different state has another digest', () => {
    fc.assert(fc.property(replicaStates, ([a, b]) => {
      const ab = merged(a, b)
      expect(sameDigest(digestOf(a), digestOf(Ring.fromState(universe, a).toState()))).toBe(true)
      expect(digestOf(ab).weight).toBeGreaterThanOrEqual(Math.max(digestOf(a).weight, digestOf(b).weight))
      if (!statesEqual(a, ab)) expect(sameDigest(digestOf(a), digestOf(ab))).toBe(false)
    }), { numRuns: 300 })
  })

  it('merging the delta from a state to a later one gives the later one', () => {
    fc.assert(fc.property(replicaStates, ([a, b]) => {
      const later = merged(a, b)
      expect(statesEqual(merged(a, { ...deltaOf(a, later), seeds: a.seeds }), later)).toBe(true)
    }), { numRuns: 300 })
  })

  it('a delta carries the entry after each one it changed: a peer given a range learns where it ends', () => {
    const r = Ring.empty(universe)
    r.claimForPeers(PEERS.slice(0, 2))
    const [a, b] = [PEERS[0]!, PEERS[1]!]
    r.give({ start: 100n, end: 200n }, a, b)
    const before = r.toState()
    r.give({ start: 50n, end: 100n }, a, b)
    // 100 and 200 did not change, but b's space that starts at 50 ends at 200, where a's begins.
    expect(deltaOf(before, r.toState()).entries.map(e => [e.token, e.owner])).toEqual([[50n, b], [100n, b], [200n, a]])
    // A peer that never heard of the first gift still sees b's new space end there.
    const stale = Ring.empty(universe)
    stale.claimForPeers(PEERS.slice(0, 2))
    stale.merge({ ...deltaOf(before, r.toState()), seeds: stale.seeds() }, b, () => false, a)
    expect(stale.rangesOf(b)[0]).toEqual({ start: 50n, end: 200n })
  })
})
