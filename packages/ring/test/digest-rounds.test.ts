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
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import type { Peer } from '../src/peer.ts'
import { type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'
import { directNet } from './direct-net.ts'

const PEERS = 25
const SEEDED = 18
const MAX_LATE = 5
const MAX_TICKS = 2_000

describe('digest rounds in a busy ring', () => {
  it('are a few per peer while 7 joiners trade for their shares over a slow network, and the rings become one', () => {
    const u = parseUniverse('10.32.0.0/12')
    const ids = Array.from({ length: PEERS }, (_, i) => asPeerId(`p${String(i).padStart(2, '0')}`))
    const init = { kind: 'seed', peers: ids.slice(0, SEEDED) } as const
    const peers = new Map<PeerId, Peer<unknown>>(ids.map((id, i) => [id, createPeer({ id, nickname: id, universe: u, init, random: prng(i + 1).next, checks: false })]))
    for (const [id, p] of peers) p.setReachable(ids.filter(q => q !== id))
    const delay = prng(7)
    const net = directNet(peers, () => false, () => 1 + Math.floor(delay.next() * MAX_LATE))
    for (const p of peers.values()) p.prime(1)
    const view = (p: Peer<unknown>): string => p.status().peers.map(x => `${x.peer}:${x.size}`).sort().join(' ')
    const sizes = (): bigint[] => peers.get(ids[0]!)!.status().peers.map(x => x.size)
    const settled = (): boolean => {
      const views = [...peers.values()].map(view)
      const s = sizes()
      return views.every(v => v === views[0]) && s.length === PEERS && s.every(x => x * 10n >= (u.size / BigInt(PEERS)) * 9n)
    }
    let ticks = 0
    // Settled views for a while, and then nothing more is sent.
    for (let quiet = 0; quiet < 100 && ticks < MAX_TICKS; ticks++) {
      const sent = net.counts.sent
      net.tick(1)
      quiet = settled() && net.counts.sent === sent ? quiet + 1 : 0
    }
    expect(ticks).toBeLessThan(MAX_TICKS)
    const rings = [...peers.values()].map(p => p.ring())
    for (const r of rings) expect(r).toEqual(rings[0])
    expect(net.kinds.get('digest*') ?? 0).toBeLessThan(8 * PEERS)
    expect(net.kinds.get('ring') ?? 0).toBeLessThan(8 * PEERS)
  })
})
