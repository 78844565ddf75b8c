import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { IntervalSet, Space, parseUniverse } from '../src/internal.ts'

describe('IntervalSet', () => {
  it('behaves as a set of offsets (differential against a plain Set)', () => {
    const op = fc.record({ add: fc.boolean(), start: fc.bigInt({ min: 0n, max: 60n }), len: fc.bigInt({ min: 0n, max: 8n }) })
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), ops => {
      const s = new IntervalSet()
      const ref = new Set<bigint>()
      for (const o of ops) {
        const r = { start: o.start, end: o.start + o.len }
        if (o.add) s.add(r); else s.remove(r)
        for (let x = r.start; x < r.end; x++) { if (o.add) ref.add(x); else ref.delete(x) }
        expect(s.checkInvariants()).toBeNull()
      }
      expect(s.count()).toBe(BigInt(ref.size))
      for (let x = 0n; x < 70n; x++) expect(s.has(x)).toBe(ref.has(x))
      const sorted = [...ref].sort((a, b) => (a < b ? -1 : 1))
      expect(s.firstAtOrAfter(30n)).toBe(sorted.find(x => x >= 30n) ?? null)
      expect(s.countIn({ start: 10n, end: 40n })).toBe(BigInt(sorted.filter(x => x >= 10n && x < 40n).length))
    }))
  })
})

describe('Space', () => {
  const u = parseUniverse('10.0.0.0/24')

  it('never hands out network or broadcast, and allocates next-fit', () => {
    const s = new Space(u)
    s.setOwned([{ start: 0n, end: 256n }])
    expect(s.freeCount()).toBe(254n)
    const a = s.allocate()
    const b = s.allocate()
    expect([a, b]).toEqual([1n, 2n])
    s.release(1n)
    // Released 1 is not handed straight back.
    expect(s.allocate()).toBe(3n)
    expect(s.checkInvariants()).toBeNull()
  })

  it('comes round to released addresses only after using the rest, then reports exhaustion', () => {
    const s = new Space(u)
    s.setOwned([{ start: 0n, end: 8n }])
    const got = [s.allocate(), s.allocate(), s.allocate(), s.allocate(), s.allocate(), s.allocate(), s.allocate()]
    expect(got).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n])
    expect(s.allocate()).toBeNull()
    s.release(2n)
    expect(s.allocate()).toBe(2n)
  })

  it('claims specific addresses and says why it cannot', () => {
    const s = new Space(u)
    s.setOwned([{ start: 0n, end: 128n }])
    expect(s.claim(10n)).toBe('ok')
    expect(s.claim(10n)).toBe('allocated')
    expect(s.claim(200n)).toBe('not-owned')
    expect(s.claim(0n)).toBe('reserved')
    expect(s.isAllocated(10n)).toBe(true)
  })

  it('donates the upper half of its largest free run', () => {
    const s = new Space(u)
    s.setOwned([{ start: 0n, end: 256n }])
    // Free run is [1, 255): 254 addresses; the upper 127 go.
    expect(s.donation()).toEqual({ start: 128n, end: 255n })
  })

  it('drops and reports allocations that fall outside new ownership', () => {
    const s = new Space(u)
    s.setOwned([{ start: 0n, end: 256n }])
    s.claim(5n); s.claim(200n)
    expect(s.setOwned([{ start: 0n, end: 128n }])).toEqual([200n])
    expect(s.allocatedCount()).toBe(1)
    expect(s.checkInvariants()).toBeNull()
  })

  it('handles a /12 and a /64 without enumerating them', () => {
    const big = new Space(parseUniverse('10.32.0.0/12'))
    big.setOwned([{ start: 0n, end: 1n << 20n }])
    for (let i = 0; i < 10_000; i++) big.allocate()
    expect(big.freeCount()).toBe((1n << 20n) - 2n - 10_000n)
    const v6 = new Space(parseUniverse('fd00::/64'))
    v6.setOwned([{ start: 0n, end: 1n << 64n }])
    expect(v6.allocate()).toBe(1n)
    expect(v6.freeCount()).toBe((1n << 64n) - 2n)
    expect(v6.donation()).toEqual({ start: (1n << 63n) + 1n, end: 1n << 64n })
  })

  it('keeps its invariants under random operations', () => {
    const op = fc.oneof(
      fc.constant({ k: 'alloc' as const }),
      fc.record({ k: fc.constant('release' as const), o: fc.bigInt({ min: 0n, max: 255n }) }),
      fc.record({ k: fc.constant('claim' as const), o: fc.bigInt({ min: 0n, max: 255n }) }),
      fc.record({ k: fc.constant('own' as const), a: fc.bigInt({ min: 0n, max: 255n }), b: fc.bigInt({ min: 0n, max: 256n }) })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 100 }), ops => {
      const s = new Space(u)
      s.setOwned([{ start: 0n, end: 256n }])
      const held = new Set<bigint>()
      for (const o of ops) {
        if (o.k === 'alloc') { const x = s.allocate(); if (x !== null) { expect(held.has(x)).toBe(false); held.add(x) } }
        if (o.k === 'release') { expect(s.release(o.o)).toBe(held.delete(o.o)) }
        if (o.k === 'claim') { if (s.claim(o.o) === 'ok') { expect(held.has(o.o)).toBe(false); held.add(o.o) } }
        if (o.k === 'own') {
          const r = o.a < o.b ? { start: o.a, end: o.b } : { start: o.b, end: o.a }
          for (const x of s.setOwned([r])) held.delete(x)
        }
        expect(s.checkInvariants()).toBeNull()
        expect(s.allocatedCount()).toBe(held.size)
      }
    }))
  })
})

describe('Space with reserved ranges', () => {
  it('never hands out or lets anyone claim a reserved address, and counts none as free', () => {
    const u = { ...parseUniverse('192.168.1.0/28'), reserved: [{ start: 1n, end: 2n }, { start: 10n, end: 14n }] }
    const s = new Space(u)
    s.setOwned([{ start: 0n, end: 16n }])
    // 16 - network - broadcast - 1 - 4
    expect(s.freeCount()).toBe(9n)
    expect(s.claim(1n)).toBe('reserved')
    expect(s.claim(12n)).toBe('reserved')
    const got: bigint[] = []
    for (let o = s.allocate(); o !== null; o = s.allocate()) got.push(o)
    expect(got).toEqual([2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 14n])
    expect(s.checkInvariants()).toBeNull()
  })
})
