/**
 * Two peers whose rings differ become reachable, and their greetings are lost: the digest rounds
 * go on until each holds the other's ring (nobody else is left to broadcast the difference).
 */
import { describe, expect, it } from 'vitest'
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import { type Message, type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'

const [A, B] = [asPeerId('a'), asPeerId('b')]

describe('a lost greeting', () => {
  it('two peers that differ still converge when the first digests between them are lost', () => {
    const u = parseUniverse('10.0.0.0/16')
    const peers = new Map([A, B].map((id, i) => [id, createPeer({ id, nickname: id, universe: u, init: { kind: 'seed', peers: [A, B] }, random: prng(i + 1).next })]))
    let drop = true
    let dropped = 0
    /** Delivers everything (bounded); while `drop`, every message between the two is lost. */
    const flush = (): void => {
      const queue: Array<{ from: PeerId, to: PeerId, msg: Message }> = []
      for (let round = 0; round < 10_000; round++) {
        for (const [id, p] of peers) {
          while (p.hasReady()) {
            const rd = p.ready()
            p.advance()
            for (const m of rd.messages) {
              const to = m.to === 'all' ? (id === A ? B : A) : m.to
              if (drop) dropped++
              else queue.push({ from: id, to, msg: m.msg })
            }
          }
        }
        const next = queue.shift()
        if (next === undefined) return
        peers.get(next.to)!.step(next.from, next.msg)
      }
      throw new Error('messages still flowing after 10000 deliveries')
    }
    const tickAll = (n: number): void => {
      for (let t = 0; t < n; t++) {
        for (const p of peers.values()) p.tick()
        flush()
      }
    }
    // Apart, each splits by the seed list and writes its own member record: the rings differ.
    for (const p of peers.values()) p.prime(1)
    tickAll(50)
    const ringOf = (id: PeerId): string => JSON.stringify(peers.get(id)!.ring().members.map(m => m.peer))
    expect(ringOf(A)).not.toBe(ringOf(B))
    // They meet, and the greetings are lost.
    peers.get(A)!.setReachable([B])
    peers.get(B)!.setReachable([A])
    flush()
    expect(dropped).toBeGreaterThan(0)
    drop = false
    tickAll(300)
    expect(ringOf(A)).toBe(JSON.stringify([A, B]))
    expect(peers.get(A)!.ring()).toEqual(peers.get(B)!.ring())
  })
})
