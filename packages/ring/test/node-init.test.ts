import { describe, expect, it } from 'vitest'
import { parseUniverse } from '../src/address.ts'
import { type Hello, compareNodes, initialiserOf, nodeInitStep } from '../src/node-init.ts'
import type { Faults } from '../src/config.ts'
import { type NodeRecord, type PeerId, asPeerId } from '../src/types.ts'
import { RELIABLE } from '../sim/network.ts'
import { prng } from '../sim/prng.ts'
import { World } from '../sim/world.ts'

const [A, B, C] = ['a', 'b', 'c'].map(asPeerId) as [PeerId, PeerId, PeerId]
const T0 = 1_700_000_000_000
const node = (p: PeerId, created: number): NodeRecord => ({ name: World.nodeName(p), created })

function world (faults?: Faults): World {
  return new World({ universe: parseUniverse('10.0.0.0/24'), rnd: prng(5), net: RELIABLE, oneRing: true, timeouts: { nodeWait: 10 }, ...(faults === undefined ? {} : { faults }) })
}
const seeds = (w: World, p: PeerId): readonly PeerId[] => w.peer(p).ring().seeds

describe('kubernetes init: the rule', () => {
  const a = node(A, T0)
  const b = node(B, T0 + 60_000)
  const base = { self: A, selfName: a.name, reachable: new Set<PeerId>(), waited: 0, wait: 10 }

  it('orders nodes by creation, then name', () => {
    expect([node(C, T0), node(B, T0 + 1), node(A, T0)].sort(compareNodes).map(n => n.name)).toEqual(['n-a', 'n-c', 'n-b'])
    expect(initialiserOf([b], new Map<PeerId, Hello>([[C, { node: b, initialiser: a }]]))).toEqual(a)
  })

  it('waits for a list that holds this node; a blank list splits nothing', () => {
    expect(nodeInitStep({ ...base, view: null, hellos: new Map() })).toMatchObject({ kind: 'wait', text: 'awaiting the Kubernetes Node list' })
    expect(nodeInitStep({ ...base, view: [], hellos: new Map() })).toMatchObject({ kind: 'wait', text: 'awaiting this node (n-a) in the Kubernetes Node list' })
  })

  it('splits alone when alone, waits a bounded time for younger nodes, and splits among those that answered', () => {
    expect(nodeInitStep({ ...base, view: [a], hellos: new Map() })).toEqual({ kind: 'split', seeds: [A] })
    expect(nodeInitStep({ ...base, view: [a, b], hellos: new Map() })).toMatchObject({ kind: 'wait', initialiser: true })
    expect(nodeInitStep({ ...base, view: [a, b], hellos: new Map(), waited: 10 })).toEqual({ kind: 'split', seeds: [A] })
    const backed = new Map<PeerId, Hello>([[B, { node: b, initialiser: a }]])
    expect(nodeInitStep({ ...base, view: [a, b], hellos: backed, reachable: new Set([B]) })).toEqual({ kind: 'split', seeds: [A, B] })
  })

  it('never splits while a node created within seconds of its own, or a rival, has not named it', () => {
    const close = node(B, T0 + 1000)
    const step = nodeInitStep({ ...base, view: [a, close], hellos: new Map(), waited: 1000 })
    expect(step).toMatchObject({ kind: 'wait', initialiser: true })
    expect(step.kind === 'wait' && step.text).toContain('n-b')
    const rival = new Map<PeerId, Hello>([[C, { node: node(C, T0 + 90_000), initialiser: node(C, T0 + 90_000) }]])
    expect(nodeInitStep({ ...base, view: [a], hellos: rival, waited: 1000 })).toMatchObject({ kind: 'wait', initialiser: true })
  })

  it('a node that is not the oldest waits for the ring, and says when the initialiser does not answer', () => {
    const step = nodeInitStep({ ...base, self: B, selfName: b.name, view: [a, b], hellos: new Map(), waited: 1000 })
    expect(step).toMatchObject({ kind: 'wait', initialiser: false })
    expect(step.kind === 'wait' && step.text).toBe('awaiting the ring from the initialiser, node n-a (the oldest node); its agent has not answered: is weft running on n-a? If it never will, delete the node from the API')
  })
})

describe('kubernetes init: peers', () => {
  it('one node is ready by itself', () => {
    const w = world()
    w.add(A, { kind: 'kubernetes' }, [node(A, T0)])
    expect(w.peer(A).status()).toMatchObject({ code: 'ready', size: 256n })
  })

  it('three nodes started together make one ring of three', () => {
    const w = world()
    const nodes = [node(A, T0), node(B, T0 + 30_000), node(C, T0 + 60_000)]
    for (const p of [C, B, A]) w.add(p, { kind: 'kubernetes' }, nodes)
    w.settle(20)
    for (const p of [A, B, C]) expect(seeds(w, p)).toEqual([A, B, C])
    w.checkConverged()
  })

  it('nodes joining one at a time join the first ring', () => {
    const w = world()
    const nodes = [node(A, T0)]
    w.add(A, { kind: 'kubernetes' }, nodes)
    for (const p of [B, C]) {
      nodes.push(node(p, T0 + nodes.length * 60_000))
      w.add(p, { kind: 'kubernetes' }, [...nodes])
      w.settle(20)
      w.allocate(p, `pod-${p}`)
      w.settle(10)
    }
    for (const p of [A, B, C]) expect(seeds(w, p)).toEqual([A])
    expect(w.held(C).size).toBe(1)
    w.checkConverged()
  })

  /** b registered first, read a list without a, and split alone; a, created in the same second, must wait for it. */
  function sameSecond (faults?: Faults): World {
    const w = world(faults)
    const a = node(A, T0)
    const b = node(B, T0)
    w.add(B, { kind: 'kubernetes' }, [b])
    w.partition([B])
    w.add(A, { kind: 'kubernetes' }, [a, b])
    w.settle(40)
    return w
  }

  it('a node created in the same second is waited for without bound, so its ring is the one', () => {
    const w = sameSecond()
    expect(w.peer(A).status().text).toContain('initialising: waiting for the agents on n-b')
    w.heal()
    w.settle(10)
    expect(seeds(w, A)).toEqual([B])
    w.checkConverged()
  })

  it('catches an initialiser that does not wait for the nodes of its own second', () => {
    expect(() => { const w = sameSecond({ initialiserSkipsWait: true }); w.heal(); w.settle(10); w.check() }).toThrow(/one ring/)
  })

  it('no agent on the oldest node: a clear status and no ring, until the node is deleted', () => {
    const w = world()
    const nodes = [node(A, T0), node(B, T0 + 60_000), node(C, T0 + 120_000)]
    for (const p of [B, C]) w.add(p, { kind: 'kubernetes' }, nodes)
    w.settle(100)
    expect(w.ringless()).toEqual([B, C])
    expect(w.peer(B).status()).toMatchObject({ code: 'awaiting-consensus', text: expect.stringContaining('its agent has not answered: is weft running on n-a?') })
    for (const p of [B, C]) w.setNodes(p, nodes.slice(1))
    w.settle(30)
    expect(w.ringless()).toEqual([])
    expect(seeds(w, C)).toEqual([B, C])
  })
})
