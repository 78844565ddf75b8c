import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { AllocationChanges, Outbox } from '../src/outbox.ts'
import { asPeerId } from '../src/index.ts'
import type { Offset } from '../src/types.ts'

describe('an outbox used batch after batch', () => {
  it('keeps each key\'s last change, in the order keys were first changed, however many a batch holds', () => {
    const changes = new AllocationChanges()
    const change = fc.tuple(fc.constantFrom(...Array.from({ length: 30 }, (_, i) => `k${i}`)), fc.option(fc.bigInt({ min: 0n, max: 1000n })))
    fc.assert(fc.property(fc.array(fc.array(change, { maxLength: 60 }), { maxLength: 4 }), batches => {
      for (const batch of batches) {
        changes.reset()
        const expected = new Map<string, Offset | null>()
        for (const [key, offset] of batch) {
          changes.set(key, offset)
          expected.set(key, offset)
        }
        const got = Array.from({ length: changes.size }, (_, i) => [changes.keyAt(i), changes.offsetAt(i)])
        expect(got).toEqual([...expected])
      }
    }), { numRuns: 300 })
  })

  it('is empty again once reset, and holds nothing of the batch before', () => {
    const o = new Outbox()
    o.ringDirty = true
    o.gossip = true
    o.acceptor.set('init', { key: 'init', promised: null, accepted: null })
    o.allocations.set('a', 1n)
    o.fail(1, 'not-ready', 'later', true)
    o.events.push({ kind: 'rejected-ring', from: asPeerId('12D3KooWGRUVh7d5ZH1q8pRmGvWTbqdazDxjW9KD5hrXVf2kPSi4'), reason: 'another range' })
    const handedOn = o.acceptor
    expect(o.isEmpty()).toBe(false)
    expect(o.reset()).toBe(o)
    expect(o.isEmpty()).toBe(true)
    // The acceptor records a Ready handed on are not emptied under it.
    expect(handedOn.size).toBe(1)
    expect(o.acceptor).not.toBe(handedOn)
  })
})
