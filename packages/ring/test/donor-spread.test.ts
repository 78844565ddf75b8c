/**
 * Joiners after a split that left them out spread their questions over the donors. 50 peers, a split
 * among 36 (as a loaded start of 50 agents decided), 14 that join with nothing, every packet late by
 * 1 to 5 ticks. Peers that see one ring see one largest donor: when all asked it, it granted one and
 * denied the rest, and they moved on together to the next (244-375 denies in this run for 115-132
 * grants, and the shares settled in 173-208 ticks, against 52-64 denies and 65-90 ticks spread).
 */
import { describe, expect, it } from 'vitest'
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import type { Peer } from '../src/peer.ts'
import { type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'
import { directNet } from './direct-net.ts'

const PEERS = 50
const SEEDED = 36
const MAX_LATE = 5
const MAX_TICKS = 2_000

describe('joiners after a split', () => {
  it('ask different donors, so few questions are denied, and the shares become even', () => {
    const u = parseUniverse('10.32.0.0/12')
    const ids = Array.from({ length: PEERS }, (_, i) => asPeerId(`p${String(i).padStart(2, '0')}`))
    const init = { kind: 'seed', peers: ids.slice(0, SEEDED) } as const
    const peers = new Map<PeerId, Peer<unknown>>(ids.map((id, i) => [id, createPeer({ id, nickname: id, universe: u, init, random: prng(i + 1).next, checks: false })]))
    for (const [id, p] of peers) p.setReachable(ids.filter(q => q !== id))
    const delay = prng(8)
    const net = directNet(peers, () => false, () => 1 + Math.floor(delay.next() * MAX_LATE))
    for (const p of peers.values()) p.prime(1)
    const view = (p: Peer<unknown>): string => p.status().peers.map(x => `${x.peer}:${x.size}`).sort().join(' ')
    const fair = u.size / BigInt(PEERS)
    const settled = (): boolean => {
      const views = [...peers.values()].map(view)
      const sizes = peers.get(ids[0]!)!.status().peers.map(x => x.size)
      return views.every(v => v === views[0]) && sizes.length === PEERS && sizes.every(x => x * 10n >= fair * 9n && x * 10n <= fair * 11n)
    }
    let ticks = 0
    for (let quiet = 0; quiet < 50 && ticks < MAX_TICKS; ticks++) {
      const sent = net.counts.sent
      net.tick(1)
      quiet = settled() && net.counts.sent === sent ? quiet + 1 : 0
    }
    expect(ticks).toBeLessThan(MAX_TICKS)
    const grants = net.kinds.get('space-grant') ?? 0
    expect(grants).toBeGreaterThanOrEqual(PEERS - SEEDED)
    expect(net.kinds.get('space-deny') ?? 0).toBeLessThan(grants)
  })
})
