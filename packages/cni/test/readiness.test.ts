import type { PeerLine, ReportResponse, StatusResponse } from '@weft/protocol'
import { describe, expect, it } from 'vitest'
import { ASK_RING, exhaustedProblem, statusProblem } from '../src/readiness.ts'

const peer = (id: string, reachable: boolean, local = false): PeerLine =>
  ({ id, nickname: id, addresses: '2', percentage: 50, reachable, local })

const status = (over: Partial<StatusResponse>): StatusResponse => ({
  peer: { id: 'me', nickname: 'me' },
  status: 'ready',
  statusText: 'ready',
  range: '10.99.0.0/29',
  rangeSize: '8',
  init: 'consensus=2',
  peers: [peer('me', true, true), peer('you', true), peer('far', false)],
  connections: 1,
  allocations: 0,
  freeLocal: '3',
  pendingAllocates: 0,
  pendingClaims: 0,
  conflicts: 0,
  badMessages: 0,
  ...over
})

const ring = (entries: Array<[owner: string, free: string]>): ReportResponse['ring'] => ({
  range: '10.99.0.0/29',
  seeds: ['me', 'you', 'far'],
  entries: entries.map(([owner, free], i) => ({ token: String(i * 2), start: `10.99.0.${i * 2}`, owner, version: 1, free, size: '2' })),
  removed: []
})

describe('statusProblem', () => {
  it('is ready when ready with free space, and when idle (the first ADD initialises the ring)', () => {
    expect(statusProblem(status({}))).toBeNull()
    expect(statusProblem(status({ status: 'idle', statusText: 'idle', freeLocal: '0' }))).toBeNull()
  })

  it('names the status otherwise', () => {
    expect(statusProblem(status({ status: 'awaiting-consensus', statusText: 'awaiting consensus (quorum: 2, known: 1)' })))
      .toBe('weft agent is not ready: awaiting consensus (quorum: 2, known: 1)')
    expect(statusProblem(status({ status: 'waiting-for-space', statusText: 'waiting for IP range grant from peers' }))).toContain('waiting for IP range')
  })

  it('asks for the ring when nothing is free here', () => {
    expect(statusProblem(status({ freeLocal: '0' }))).toBe(ASK_RING)
  })
})

describe('exhaustedProblem', () => {
  const st = status({ freeLocal: '0' })

  it('is fine while a reachable peer reports free space', () => {
    expect(exhaustedProblem(st, ring([['me', '0'], ['you', '1'], ['far', '2']]))).toBeNull()
  })

  it('is exhausted when only unreachable peers, or nobody, report free space', () => {
    const msg = 'range 10.99.0.0/29 is exhausted: no free address on this peer or on any reachable peer'
    expect(exhaustedProblem(st, ring([['me', '0'], ['you', '0'], ['far', '2']]))).toBe(msg)
    expect(exhaustedProblem(st, ring([['me', '0'], ['you', '0'], ['far', '0']]))).toBe(msg)
  })

  it('does not count this peer\'s own (stale) hint', () => {
    expect(exhaustedProblem(st, ring([['me', '2'], ['you', '0']]))).not.toBeNull()
  })
})
