import { describe, expect, it } from 'vitest'
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import { digestOf, sameDigest } from '../src/ring-digest.ts'
import { type Message, type PeerId, type RingDelta, type RingState, asPeerId } from '../src/types.ts'
import { runFloorCost, runRemovalCost } from '../sim/floor-cost.ts'
import { RELIABLE } from '../sim/network.ts'
import { prng } from '../sim/prng.ts'
import { World } from '../sim/world.ts'

const universe = parseUniverse('10.0.0.0/24')
const [A, B, C, D] = ['a', 'b', 'c', 'd'].map(asPeerId) as [PeerId, PeerId, PeerId, PeerId]

interface Raise {
  readonly from: PeerId
  readonly delta: RingDelta
  /** Every other live peer's ring as the delta left: most still hold the ring the floor was raised on. */
  readonly rings: ReadonlyMap<PeerId, RingState>
}

/** Four peers, D dies and A removes it; the first delta that raises a floor, and the rings it met. */
function firstRaise (): Raise {
  let raise: Raise | null = null
  let w: World | undefined
  const meter = (msg: Message, _n: number, from: PeerId): void => {
    if (raise !== null || msg.type !== 'delta' || msg.delta.raisedFrom === undefined || w === undefined) return
    raise = { from, delta: msg.delta, rings: new Map(w.ids('up').filter(p => p !== from).map(p => [p, w!.peer(p).ring()])) }
  }
  w = new World({ universe, rnd: prng(3), net: RELIABLE, meter })
  for (const p of [A, B, C, D]) w.add(p, { kind: 'seed', peers: [A, B, C, D] })
  w.settle(5)
  w.kill(D)
  w.rmpeer(A, D)
  for (let t = 0; t < 60 && raise === null; t++) w.settle(1)
  if (raise === null) throw new Error('no floor was raised in 60 ticks')
  w.settle(20)
  w.checkConverged()
  return raise
}

/** A peer of id `id` started from `ring`, its start-up batch taken: what it says to `delta` next. */
function answer (id: PeerId, ring: RingState, nickname: string, from: PeerId, delta: RingDelta): { readonly messages: readonly Message[], readonly ring: RingState } {
  const p = createPeer<string>({ id, nickname, universe, init: { kind: 'seed', peers: [A, B, C, D] }, random: () => 0.5, persisted: { ring, allocations: [], acceptor: [] } })
  while (p.hasReady()) { p.ready(); p.advance() }
  p.step(from, { type: 'delta', delta })
  const messages: Message[] = []
  while (p.hasReady()) { messages.push(...p.ready().messages.map(m => m.msg)); p.advance() }
  return { messages, ring: p.ring() }
}

describe('a floor raise', () => {
  it('goes as a delta naming the ring it was raised on: a peer holding that ring raises the same floor, any other pulls the whole ring', () => {
    const { from, delta, rings } = firstRaise()
    const holder = [...rings].find(([, r]) => sameDigest(digestOf(r, universe.size), delta.raisedFrom!))
    expect(holder).toBeDefined()
    const [id, ring] = holder!
    expect(delta.part.floor).toBeGreaterThan(ring.floor)
    const same = answer(id, ring, World.nodeName(id), from, delta)
    expect(same.ring.floor).toBe(delta.part.floor)
    expect(same.ring.removed).toEqual([])
    expect(same.messages.filter(m => m.type === 'pull')).toEqual([])
    // The same ring, but this peer renamed itself since: it does not hold the ring the floor was raised on.
    const other = answer(id, ring, 'renamed', from, delta)
    expect(other.ring.floor).toBe(ring.floor)
    expect(other.messages).toContainEqual({ type: 'pull' })
    // Without the ring it was raised on named, a floor in a delta is never taken.
    const { raisedFrom: _, ...bare } = delta
    expect(answer(id, ring, World.nodeName(id), from, bare).messages).toContainEqual({ type: 'pull' })
  })

  it('raised on a ring every peer holds, costs one delta to each other peer and no whole ring', () => {
    const r = runFloorCost(1, 30)
    expect(r.floorDeltas.messages).toBe(29)
    expect(r.floorRings.messages).toBe(0)
    expect(r.byKind.pull).toBeUndefined()
    expect(r.byKind.ring).toBeUndefined()
  })

  it('after a removal in a settled cluster of 30, few peers raise the floor and hardly any is sent a whole ring for it', () => {
    const r = runRemovalCost(1, 30)
    // Each raiser's delta goes to the 28 other live peers: at most 10 raisers (23 sent the floor in a delta when it travelled only inside whole rings, and 8 whole rings raised a floor).
    expect(r.floorDeltas.messages).toBeLessThanOrEqual(10 * 28)
    expect(r.floorRings.messages).toBeLessThanOrEqual(3)
  })
})
