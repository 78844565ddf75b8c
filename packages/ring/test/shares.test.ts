import { describe, expect, it } from 'vitest'
import { MIN_TRADE, balanceGift, donorsFor, fairOf, needGift, pickDonor, pickGift } from '../src/shares.ts'

const f = fairOf(1024n, 4) // share 256, gap 25, slack 12, least 16 (MIN_TRADE)

describe('shares', () => {
  it('trades only across a gap, halfway at most, never past the fair share by more than the slack', () => {
    expect(f).toEqual({ share: 256n, gap: 25n, slack: 12n, least: 16n })
    expect(balanceGift(f, 280n, 256n)).toBe(0n) // 24 apart: under the gap
    expect(balanceGift(f, 512n, 0n)).toBe(256n) // a joiner: halfway
    expect(balanceGift(f, 600n, 0n)).toBe(256n + 12n) // ... and never past the share and the slack
    expect(balanceGift(f, 300n, 200n)).toBe(50n) // halfway
    expect(balanceGift(f, 262n, 230n)).toBe(16n) // halfway, and the donor stays above share - slack
    expect(balanceGift(f, 260n, 230n)).toBe(0n) // 15: under the smallest trade
    expect(balanceGift(f, 250n, 220n)).toBe(0n) // the donor would go below share - slack
  })

  it('trades nothing under MIN_TRADE addresses, however small the share', () => {
    const tiny = fairOf(256n, 20) // share 12
    expect(tiny).toMatchObject({ gap: MIN_TRADE, least: MIN_TRADE })
    expect(balanceGift(tiny, 40n, 0n)).toBe(0n) // min(12 + 0, 12, 20) = 12: under 16
  })

  it('spreads askers over the donors giving at least half what the best gives', () => {
    const donors = donorsFor(f, new Map([['a', 512n], ['b', 510n], ['c', 300n], ['d', 256n], ['me', 0n]]), 'me', 0n)
    // d is too close to the fair share to give anything; c gives under half of a.
    expect(donors).toEqual([{ peer: 'a', gives: 256n }, { peer: 'b', gives: 255n }, { peer: 'c', gives: 56n }])
    const draws = [0, 0.3, 0.49, 0.5, 0.8, 0.999]
    expect(draws.map(r => pickDonor(donors, () => r))).toEqual(['a', 'a', 'a', 'b', 'b', 'b'])
    const even = [{ peer: 'x', gives: 100n }, { peer: 'y', gives: 50n }, { peer: 'z', gives: 49n }]
    expect(new Set(draws.map(r => pickDonor(even, () => r)))).toEqual(new Set(['x', 'y']))
    expect(pickDonor([], () => 0.5)).toBeNull()
  })

  it('gives a peer in need a step that leaves the two within half a gap', () => {
    expect(needGift(f, 256n, 256n)).toBe(6n)
    expect(needGift(f, 0n, 256n)).toBe(1n)
  })

  it('prefers a range between existing boundaries, then one ending at one, then aligned blocks', () => {
    const runs = [{ start: 1n, end: 100n }, { start: 300n, end: 1000n }]
    expect(pickGift(runs, 200n, [], [0n, 600n, 800n, 1024n])).toEqual({ start: 600n, end: 800n })
    // No pair of boundaries fits: a range ending at the boundary 800, its start aligned to 32.
    expect(pickGift(runs, 300n, [], [0n, 800n, 1024n])).toEqual({ start: 512n, end: 800n })
    // No boundary inside: the upper end, aligned to 32 (a gift of 300: 256 / 8).
    expect(pickGift(runs, 300n, [], [0n, 1024n])).toEqual({ start: 704n, end: 992n })
  })

  it('takes from a run that touches the asker, keeping its space one run', () => {
    const runs = [{ start: 1n, end: 100n }, { start: 300n, end: 1000n }]
    expect(pickGift(runs, 60n, [{ start: 100n, end: 200n }], [0n, 100n, 1024n])).toEqual({ start: 40n, end: 100n })
    expect(pickGift([], 60n, [], [])).toBeNull()
  })
})
