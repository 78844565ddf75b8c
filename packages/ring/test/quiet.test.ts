/**
 * An idle cluster costs nothing but its clock: once the ring is made and every peer holds it, ticks
 * send no message and write nothing, however many go by. (What an idle agent spends on CPU then is
 * the mesh's own upkeep, which the agent's mesh bench measures.)
 */
import { describe, expect, it } from 'vitest'
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import { type Message, type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'

const all = ['a', 'b', 'c', 'd'].map(asPeerId)
const QUIET_TICKS = 1_000

describe('a quiet cluster', () => {
  it('sends nothing and persists nothing over a thousand ticks once every peer holds the ring', () => {
    const u = parseUniverse('10.0.0.0/16')
    const peers = new Map(all.map((id, i) => [id, createPeer({ id, nickname: id, universe: u, init: { kind: 'consensus', count: all.length }, random: prng(i + 1).next })]))
    for (const [id, p] of peers) p.setReachable(all.filter(q => q !== id))
    let sent = 0
    let persisted = 0
    /** Delivers everything (bounded), counting what the peers send and write. */
    const flush = (): void => {
      const queue: Array<{ from: PeerId, to: PeerId, msg: Message }> = []
      for (let round = 0; round < 10_000; round++) {
        for (const [id, p] of peers) {
          while (p.hasReady()) {
            const rd = p.ready()
            p.advance()
            if (rd.persist !== null) persisted++
            for (const m of rd.messages) {
              sent++
              for (const to of m.to === 'all' ? all.filter(q => q !== id) : [m.to]) queue.push({ from: id, to, msg: m.msg })
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
    for (const p of peers.values()) p.prime(1)
    // Init, the digests that confirm it, the free-count hints: all done within a few hundred ticks.
    tickAll(300)
    expect(new Set([...peers.values()].map(p => p.ring().seeds.length))).toEqual(new Set([all.length]))
    expect(sent).toBeGreaterThan(0)
    sent = 0
    persisted = 0
    tickAll(QUIET_TICKS)
    expect({ sent, persisted }).toEqual({ sent: 0, persisted: 0 })
  })
})
