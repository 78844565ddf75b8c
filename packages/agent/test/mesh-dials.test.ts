import { describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { DialSet, MAX_PARALLEL_DIALS, MAX_RETRY_MS } from '../src/mesh-dials.ts'

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
