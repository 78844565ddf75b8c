import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { type Cidr, type Member, type PeerId, type RingState, asPeerId } from '@weft/ring'
import { DialSet, LOWER_FIRST_MS, MAX_PARALLEL_DIALS, removedEverywhere } from '../src/mesh-dials.ts'

const addr = (port: number): ReturnType<typeof multiaddr> => multiaddr(`/ip4/127.0.0.1/tcp/${port}`)
const nobody = (): boolean => false

describe('DialSet', () => {
  it('starts at most MAX_PARALLEL_DIALS dials at once, the rest as slots free', () => {
    const set = new DialSet('self', Array.from({ length: 20 }, (_, i) => addr(4000 + i)), 2_000)
    const first = set.due(0, nobody)
    expect(first.start).toHaveLength(MAX_PARALLEL_DIALS)
    expect(first.more).toBe(true)
    for (const t of first.start) t.dialling = true
    expect(set.due(0, nobody)).toEqual({ start: [], more: true })
    first.start[0]!.dialling = false
    set.failed(first.start[0]!, 0)
    // The freed slot goes to a target never tried, not back to the one that just failed.
    const next = set.due(0, nobody)
    expect(next.start).toHaveLength(1)
    expect(next.start[0]!.failures).toBe(0)
  })

  it('a listed address found to be a lower peer\'s is left to that peer to dial first', () => {
    const set = new DialSet('m', [addr(4000), addr(4001)], 2_000)
    set.learn('z', addr(4000), 0)
    set.learn('a', addr(4001), 0)
    const due = set.due(0, nobody).start.map(t => t.peer)
    expect(due).toEqual(['z'])
    expect(set.due(LOWER_FIRST_MS - 1, nobody).start.map(t => t.peer)).toEqual(['z'])
    expect(set.due(LOWER_FIRST_MS, nobody).start.map(t => t.peer)).toEqual(['z', 'a'])
  })
})

describe('a lost connection', () => {
  it('is dialled again at once by the lower peer id, by the higher only if the lower has not within LOWER_FIRST_MS', () => {
    const lower = new DialSet('a', [addr(4001)], 2_000)
    const higher = new DialSet('b', [addr(4000)], 2_000)
    lower.learn('b', addr(4001), 0)
    higher.learn('a', addr(4000), 0)
    const up = (): boolean => true
    expect(lower.due(1_000, up).start).toEqual([])
    expect(higher.due(1_000, up).start).toEqual([])
    // The connection is lost at 1 s (each saw it last then).
    expect(lower.due(1_100, nobody).start.map(t => t.peer)).toEqual(['b'])
    expect(higher.due(1_100, nobody).start).toEqual([])
    expect(higher.due(1_000 + LOWER_FIRST_MS - 1, nobody).start).toEqual([])
    expect(higher.due(1_000 + LOWER_FIRST_MS, nobody).start.map(t => t.peer)).toEqual(['a'])
  })
})

describe('one list shared by every agent', () => {
  it('is dialled starting after this agent\'s own entry, which is never dialled', () => {
    const list = [4000, 4001, 4002, 4003].map(addr)
    const order = (own: number): Array<string | undefined> => {
      const set = new DialSet('self', list, 2_000)
      set.placeSelf([addr(own)])
      return set.due(0, nobody).start.map(t => t.addr.toString().split('/').at(-1))
    }
    expect(order(4001)).toEqual(['4002', '4003', '4000'])
    expect(order(4003)).toEqual(['4000', '4001', '4002'])
    // Not listed (it listens elsewhere): the list's own order.
    expect(order(5000)).toEqual(['4000', '4001', '4002', '4003'])
  })

  it('has no pair of agents dial each other in their first dials', () => {
    const list = Array.from({ length: 50 }, (_, i) => addr(4000 + i))
    const first = list.map(own => {
      const set = new DialSet('self', list, 2_000)
      set.placeSelf([own])
      return new Set(set.due(0, nobody).start.map(t => t.addr.toString()))
    })
    let both = 0
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) if (first[i]!.has(list[j]!.toString()) && first[j]!.has(list[i]!.toString())) both++
    }
    // In the list's own order, the first MAX_PARALLEL_DIALS + 1 agents would all dial each other at once.
    expect(both).toBe(0)
  })
})

describe('removedEverywhere', () => {
  const id = (s: string): PeerId => asPeerId(s)
  const ring = (parts: Partial<RingState>): RingState =>
    ({ universe: '10.32.0.0/12' as Cidr, seeds: [], entries: [], members: [], removed: [], floor: 0, level: 0, ...parts })
  const member = (peer: string): Member => ({ peer: id(peer), nickname: peer, version: 1, acks: [], since: 0, born: 0 })

  it('names a peer removed in this pool once every other pool removed it or names it no more', () => {
    const here = ring({ removed: [{ peer: id('x'), heir: id('a'), done: 16 }] })
    expect(removedEverywhere(here, [ring({ removed: [{ peer: id('x'), heir: id('a') }] })])).toEqual(['x'])
    // Another pool's floor compacted its removal of x away, record and all.
    expect(removedEverywhere(here, [ring({ members: [member('a')] })])).toEqual(['x'])
    // x is still a member of another pool, or owns space there: it stays in the mesh.
    expect(removedEverywhere(here, [ring({ members: [member('x')] })])).toEqual([])
    expect(removedEverywhere(here, [ring({ entries: [{ token: 0n, owner: id('x'), version: 16 }] })])).toEqual([])
  })
})
