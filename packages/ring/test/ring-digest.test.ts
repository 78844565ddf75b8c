import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Ring, statesEqual } from '../src/internal.ts'
import { boundsOf, deltaOf, digestOf, sameDigest } from '../src/ring-digest.ts'
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

  it('a delta carries the entry after each one it changed, and names the tokens that end those it carries', () => {
    const r = Ring.empty(universe)
    r.claimForPeers(PEERS.slice(0, 2))
    const [a, b] = [PEERS[0]!, PEERS[1]!]
    r.give({ start: 100n, end: 200n }, a, b)
    const before = r.toState()
    r.give({ start: 50n, end: 100n }, a, b)
    // 100 did not change, but it is where the new entry at 50 ends; 100 itself ends at 200.
    const part = deltaOf(before, r.toState())
    expect(part.entries.map(e => [e.token, e.owner])).toEqual([[50n, b], [100n, b]])
    expect(boundsOf(part, r.toState())).toEqual([200n])
  })
})
