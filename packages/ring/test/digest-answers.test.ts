/**
 * After a change every peer that made one asks every other for its digest (a round), so most asks
 * reach peers whose own round already took the asker this very digest. Those asks are not answered
 * again, once: the asker has the answer already, and a second ask (the first answer may have been
 * lost, or come before the asker's ring was ours) is answered. Every round still ends.
 */
import { describe, expect, it } from 'vitest'
import { createPeer } from '../src/peer.ts'
import { type Message, type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'
import { MAX_TICKS, QUIET, seededMesh, universe } from './seeded-mesh.ts'

/** Ticks a change may take to reach every peer and every round to end (4 to 61 here, as before answers were spared). */
const SETTLE = 100

/** A seeded mesh whose packets are 1 to 3 ticks late. */
function mesh (n: number, drop?: (from: PeerId, to: PeerId, msg: Message) => boolean) {
  const delay = prng(n)
  return seededMesh(n, drop, () => 1 + Math.floor(delay.next() * 3))
}

const answers = (kinds: ReadonlyMap<string, number>): number => kinds.get('digest') ?? 0

describe('answers to a digest round', () => {
  it('after a removal in a settled mesh of 9, every peer acks and asks everyone, and few asks are answered', () => {
    const { ids, peers, net, runQuiet, oneRing } = mesh(9)
    for (const p of peers.values()) p.prime(1)
    expect(runQuiet()).toBeLessThan(MAX_TICKS)
    const dead = ids[8]!
    peers.delete(dead)
    for (const p of peers.values()) p.reachChanged(dead, false)
    net.kinds.clear()
    peers.get(ids[0]!)!.rmpeer(1, dead)
    // The vote, the removal, every peer's ack (a change of its own: a delta and a round), the heir's adoption.
    expect(runQuiet()).toBeLessThan(SETTLE + QUIET)
    expect(oneRing()).toBe(true)
    // Adopted, and compacted away by a floor.
    expect(peers.get(ids[1]!)!.ring().members.map(m => m.peer)).not.toContain(dead)
    expect(peers.get(ids[1]!)!.ring().entries.map(e => e.owner)).not.toContain(dead)
    const rounds = net.kinds.get('digest*') ?? 0
    expect(rounds).toBeGreaterThanOrEqual(8)
    // Answered by all 7 others, the rounds cost 7 answers each (184 direct digests for 26 rounds here).
    expect(answers(net.kinds)).toBeLessThan(rounds * 7 / 2)
  })

  it('a peer whose rounds never reached the asker answers its second ask, and every round ends', () => {
    const [lost, asker] = [asPeerId('p1'), asPeerId('p2')]
    let cut = true
    const { peers, net, runQuiet, oneRing } = mesh(5, (from, to, msg) => cut && from === lost && to === asker && msg.type === 'digest')
    for (const p of peers.values()) p.prime(1)
    // The split's records, greetings, rounds and answers go out; every digest p1 sends p2 is lost
    // meanwhile, while p1 counts p2 as told. Had p1 spared every ask of p2's from then on, p2's rounds
    // would never end.
    net.tick(30)
    cut = false
    expect(runQuiet()).toBeLessThan(SETTLE + QUIET)
    expect(oneRing()).toBe(true)
  })

  it('a peer back from its disk is answered at once, every time: what was told it went with it', () => {
    const { ids, peers, net, runQuiet, oneRing } = mesh(6)
    for (const p of peers.values()) p.prime(1)
    expect(runQuiet()).toBeLessThan(MAX_TICKS)
    const back = ids[3]!
    const restart = (): void => {
      const old = peers.get(back)!
      for (const [id, p] of peers) if (id !== back) p.reachChanged(back, false)
      const persisted = { ring: old.ring(), allocations: [...old.allocations().values()], acceptor: [] }
      peers.set(back, createPeer({ id: back, nickname: back, universe, init: { kind: 'seed', peers: ids }, random: prng(99).next, persisted }))
      net.kinds.clear()
      peers.get(back)!.setReachable(ids.filter(q => q !== back))
      for (const [id, p] of peers) if (id !== back) p.reachChanged(back, true)
      expect(runQuiet()).toBeLessThan(SETTLE + QUIET)
      expect(oneRing()).toBe(true)
      // Its greetings are answered: no round of its own follows.
      expect(net.kinds.get('digest*') ?? 0).toBe(0)
      expect(answers(net.kinds)).toBe(2 * (ids.length - 1))
    }
    // The second time, every other peer has answered it this very ring before it went away.
    restart()
    restart()
  })
})
