import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { type Cidr, type Member, type PeerId, type RingState, asPeerId } from '@weft/ring'
import { DialSet, FAR_HALF_MS, LOWER_FIRST_MS, MAX_PARALLEL_DIALS, MAX_RETRY_MS, REFUSED_QUICK_TRIES, REFUSED_RETRY_MS, removedEverywhere } from '../src/mesh-dials.ts'
import type { DialOutcome, DialTarget } from '../src/mesh-dials.ts'

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
    set.ended(first.start[0]!, 'failed', 0)
    // The freed slot goes to a target never tried, not back to the one that just failed.
    const next = set.due(0, nobody)
    expect(next.start).toHaveLength(1)
    expect(next.start[0]!.failures).toBe(0)
  })

  it('halves the dials in flight when one times out, down to one, and adds one back per dial that connects', () => {
    const set = new DialSet('self', Array.from({ length: 20 }, (_, i) => addr(4000 + i)), 2_000)
    const dialling: DialTarget[] = []
    const start = (): number => {
      const { start } = set.due(0, nobody)
      for (const t of start) { t.dialling = true; dialling.push(t) }
      return start.length
    }
    const end = (outcome: DialOutcome): void => {
      const t = dialling.shift()!
      t.dialling = false
      set.ended(t, outcome, 0)
    }
    expect(start()).toBe(MAX_PARALLEL_DIALS)
    end('timed-out')
    expect(set.parallel).toBe(MAX_PARALLEL_DIALS / 2)
    // 7 still in flight: no room until fewer than 4 are.
    expect(start()).toBe(0)
    // A refused dial frees its slot and leaves the limit alone.
    for (let i = 0; i < 4; i++) end('failed')
    expect(set.parallel).toBe(MAX_PARALLEL_DIALS / 2)
    expect(start()).toBe(1)
    for (let i = 0; i < 3; i++) end('timed-out')
    expect(set.parallel).toBe(1)
    expect(start()).toBe(0)
    end('connected')
    expect(set.parallel).toBe(2)
    expect(start()).toBe(2)
    for (let i = 0; i < 10; i++) { start(); end('connected') }
    expect(set.parallel).toBe(MAX_PARALLEL_DIALS)
  })

  it('retries a refused dial (an agent still starting) after REFUSED_RETRY_MS, its first REFUSED_QUICK_TRIES times, then backs off', () => {
    const set = new DialSet('self', [addr(4000)], 2_000)
    let now = 0
    const retries: number[] = []
    for (let i = 0; i < REFUSED_QUICK_TRIES + 3; i++) {
      const [t] = set.due(now, nobody).start
      expect(t).toBeDefined()
      set.ended(t!, 'refused', now)
      retries.push(t!.nextAttempt - now)
      expect(set.due(t!.nextAttempt - 1, nobody).start).toEqual([])
      now = t!.nextAttempt
    }
    // Then as any failure: the doubling has reached its ceiling by then.
    expect(retries).toEqual([...Array<number>(REFUSED_QUICK_TRIES).fill(REFUSED_RETRY_MS), MAX_RETRY_MS, MAX_RETRY_MS, MAX_RETRY_MS])
    // A dial that failed otherwise (nothing answers there) backs off from the first.
    const gone = new DialSet('self', [addr(4001)], 2_000)
    const [t] = gone.due(0, nobody).start
    gone.ended(t!, 'failed', 0)
    expect(t!.nextAttempt).toBe(2_000)
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
  it('is dialled starting after this agent\'s own entry, which is never dialled, the farther half after FAR_HALF_MS', () => {
    const list = [4000, 4001, 4002, 4003].map(addr)
    const order = (own: number, at: number): Array<string | undefined> => {
      const set = new DialSet('self', list, 2_000)
      set.placeSelf([addr(own)], 0)
      return set.due(at, nobody).start.map(t => t.addr.toString().split('/').at(-1))
    }
    // 4003 is two places on, as 4001 is from it: the lower address dials.
    expect(order(4001, 0)).toEqual(['4002', '4003'])
    expect(order(4003, 0)).toEqual(['4000'])
    expect(order(4001, FAR_HALF_MS)).toEqual(['4002', '4003', '4000'])
    expect(order(4003, FAR_HALF_MS)).toEqual(['4000', '4001', '4002'])
    // Not listed (it listens elsewhere): the list's own order, all at once.
    expect(order(5000, 0)).toEqual(['4000', '4001', '4002', '4003'])
  })

  for (const n of [49, 50]) {
    it(`has exactly one end of each pair of ${n} agents dial first, and neither before the nearer half is done`, () => {
      const list = Array.from({ length: n }, (_, i) => addr(4000 + i))
      const firstHalf = list.map(own => {
        const set = new DialSet('self', list, 2_000)
        set.placeSelf([own], 0)
        const due = new Set<string>()
        const connected = (peer: string): boolean => due.has(peer)
        // Every dial in flight connects at once: the whole nearer half, MAX_PARALLEL_DIALS at a time (bounded: n rounds).
        for (let round = 0; round < n; round++) {
          for (const t of set.due(0, connected).start) { t.peer = t.addr.toString(); due.add(t.peer); set.ended(t, 'connected', 0) }
        }
        return due
      })
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          expect(Number(firstHalf[i]!.has(list[j]!.toString())) + Number(firstHalf[j]!.has(list[i]!.toString()))).toBe(1)
        }
      }
    })
  }

  it('dials the farther half LOWER_FIRST_MS after the nearer is settled: connected or unreachable, not refused or timed out', () => {
    // 5 agents: from 4000, 4001 and 4002 are the nearer half, 4003 and 4004 the farther.
    const list = [4000, 4001, 4002, 4003, 4004].map(addr)
    const set = new DialSet('self', list, 2_000)
    set.placeSelf([addr(4000)], 0)
    const up = new Set<string>()
    const connected = (peer: string): boolean => up.has(peer)
    const port = (t: DialTarget): string | undefined => t.addr.toString().split('/').at(-1)
    const near = set.due(0, connected).start
    expect(near.map(port)).toEqual(['4001', '4002'])
    // 4001 connects; 4002 is still starting: refused, retried, and the farther half still waits.
    near[0]!.peer = 'p1'
    up.add('p1')
    set.ended(near[0]!, 'connected', 1_000)
    set.ended(near[1]!, 'refused', 1_000)
    expect(set.due(1_000 + LOWER_FIRST_MS, connected).start.map(port)).toEqual(['4002'])
    // Timed out: a starved peer, not a gone one, and it waits for this dial.
    set.ended(near[1]!, 'timed-out', 11_000)
    expect(set.due(11_000 + 2 * LOWER_FIRST_MS, connected).start.map(port)).toEqual(['4002'])
    // Now 4002 cannot be reached at all (a partition): settled, the farther half follows.
    set.ended(near[1]!, 'failed', 40_000)
    expect(set.due(40_000, connected).start).toEqual([])
    expect(set.due(40_000 + LOWER_FIRST_MS, connected).start.map(port)).toEqual(['4002', '4003', '4004'])
  })

  it('dials the farther half at once when none of the nearer half can be reached and nothing is connected', () => {
    // 5 agents, this one at 4000: 4001 and 4002 are the nearer half, 4003 and 4004 the farther.
    const list = [4000, 4001, 4002, 4003, 4004].map(addr)
    const port = (t: DialTarget): string | undefined => t.addr.toString().split('/').at(-1)
    const cutOff = new DialSet('self', list, 2_000)
    cutOff.placeSelf([addr(4000)], 0)
    const near = cutOff.due(0, nobody).start
    expect(near.map(port)).toEqual(['4001', '4002'])
    // No route to either (the far side of a partition): nobody to wait for or to learn the mesh from.
    for (const t of near) cutOff.ended(t, 'failed', 3_000)
    expect(cutOff.due(3_000, nobody).start.map(port)).toEqual(['4003', '4004'])
    // Connected to one of the farther half already (it dialled us): through it this agent is in the mesh, so the rest wait as usual.
    const inMesh = new DialSet('self', list, 2_000)
    inMesh.placeSelf([addr(4000)], 0)
    const first = inMesh.due(0, nobody).start
    inMesh.learn('p4', addr(4004), 0)
    const up = (peer: string): boolean => peer === 'p4'
    for (const t of first) inMesh.ended(t, 'failed', 3_000)
    expect(inMesh.due(3_000, up).start).toEqual([])
    expect(inMesh.due(3_000 + LOWER_FIRST_MS, up).start.map(port)).toEqual(['4001', '4002', '4003'])
  })

  it('leaves the list to decide who dials when a listed peer turns out to be lower', () => {
    const list = [4000, 4001, 4002].map(addr)
    const set = new DialSet('m', list, 2_000)
    set.placeSelf([addr(4000)], 0)
    // 4001 is in this agent's nearer half: it dials it at once, whatever its peer id.
    set.learn('a', addr(4001), 0)
    expect(set.due(0, nobody).start.map(t => t.peer)).toEqual(['a'])
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
