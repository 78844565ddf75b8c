import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { type Cidr, type Member, type PeerId, type RingState, asPeerId } from '@weft/ring'
import { DialSet, MAX_PARALLEL_DIALS, MAX_RETRY_MS, removedEverywhere } from '../src/mesh-dials.ts'

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
    expect(set.due(Math.max(2_000, MAX_RETRY_MS), nobody).start.map(t => t.peer)).toEqual(['z', 'a'])
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
