/**
 * A busy ring does not pay a digest round, and every peer's answer to it, per change. 25 peers, a
 * split among 18 of them (as a loaded start decides), 7 that join with nothing and collect their
 * shares in trades, and every packet late by 1 to 5 ticks: the rings become one with even shares,
 * and the digest rounds and whole rings stay a few per peer. When every change was confirmed by its
 * own round, the rounds found digests apart only because deltas were still on their way, and pulls of
 * the whole ring followed: 500 rounds and 424 whole rings in this run, which on 25 real
 * agents sharing two cores kept every agent busy for minutes.
 */
import { describe, expect, it } from 'vitest'
import { lateJoiners } from './late-joiners.ts'

const PEERS = 25
const SEEDED = 18
const MAX_TICKS = 2_000

describe('digest rounds in a busy ring', () => {
  it('are a few per peer while 7 joiners trade for their shares over a slow network, and the rings become one', () => {
    const { universe, peers, net, agreed, sizes, runQuiet } = lateJoiners(PEERS, SEEDED, 5, 7)
    const fair = universe.size / BigInt(PEERS)
    // Settled views for a while, and then nothing more is sent.
    expect(runQuiet(() => agreed() && sizes().every(x => x * 10n >= fair * 9n), 100, MAX_TICKS)).toBeLessThan(MAX_TICKS)
    const rings = [...peers.values()].map(p => p.ring())
    for (const r of rings) expect(r).toEqual(rings[0])
    expect(net.kinds.get('digest*') ?? 0).toBeLessThan(8 * PEERS)
    expect(net.kinds.get('ring') ?? 0).toBeLessThan(8 * PEERS)
  })
})
