/**
 * Two peers whose rings differ become reachable, and their greetings are lost: the digest rounds
 * go on until each holds the other's ring (nobody else is left to broadcast the difference).
 */
import { describe, expect, it } from 'vitest'
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import { type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'
import { directNet } from './direct-net.ts'

const [A, B] = [asPeerId('a'), asPeerId('b')]

describe('a lost greeting', () => {
  it('two peers that differ still converge when the first digests between them are lost', () => {
    const u = parseUniverse('10.0.0.0/16')
    const peers = new Map([A, B].map((id, i) => [id, createPeer({ id, nickname: id, universe: u, init: { kind: 'seed', peers: [A, B] }, random: prng(i + 1).next })]))
    let drop = true
    const net = directNet(peers, () => drop)
    // Apart, each splits by the seed list and writes its own member record: the rings differ.
    for (const p of peers.values()) p.prime(1)
    net.tick(50)
    const ringOf = (id: PeerId): string => JSON.stringify(peers.get(id)!.ring().members.map(m => m.peer))
    expect(ringOf(A)).not.toBe(ringOf(B))
    // They meet, and the greetings are lost.
    peers.get(A)!.setReachable([B])
    peers.get(B)!.setReachable([A])
    const before = net.counts.sent
    net.flush()
    expect(net.counts.sent).toBeGreaterThan(before)
    drop = false
    net.tick(300)
    expect(ringOf(A)).toBe(JSON.stringify([A, B]))
    expect(peers.get(A)!.ring()).toEqual(peers.get(B)!.ring())
  })
})
