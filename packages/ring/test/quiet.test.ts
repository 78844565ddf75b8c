/**
 * An idle cluster costs nothing but its clock: once the ring is made and every peer holds it, ticks
 * send no message and write nothing, however many go by. (What an idle agent spends on CPU then is
 * the mesh's own upkeep, which the agent's mesh bench measures.)
 */
import { describe, expect, it } from 'vitest'
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import { asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'
import { directNet } from './direct-net.ts'

const all = ['a', 'b', 'c', 'd'].map(asPeerId)
const QUIET_TICKS = 1_000

describe('a quiet cluster', () => {
  it('sends nothing and persists nothing over a thousand ticks once every peer holds the ring', () => {
    const u = parseUniverse('10.0.0.0/16')
    const peers = new Map(all.map((id, i) => [id, createPeer({ id, nickname: id, universe: u, init: { kind: 'consensus', count: all.length }, random: prng(i + 1).next })]))
    for (const [id, p] of peers) p.setReachable(all.filter(q => q !== id))
    const net = directNet(peers)
    for (const p of peers.values()) p.prime(1)
    // Init, the digests that confirm it, the free-count hints: all done within a few hundred ticks.
    net.tick(300)
    expect(new Set([...peers.values()].map(p => p.ring().seeds.length))).toEqual(new Set([all.length]))
    expect(net.counts.sent).toBeGreaterThan(0)
    net.counts.sent = 0
    net.counts.persisted = 0
    net.tick(QUIET_TICKS)
    expect(net.counts).toEqual({ sent: 0, persisted: 0 })
  })
})
