import type { PeerLine, StatusResponse } from '@weft/protocol'
import { describe, expect, it } from 'vitest'
import { statusProblem } from '../src/readiness.ts'

const peer = (id: string, reachable: boolean, free: string, local = false): PeerLine =>
  ({ id, nickname: id, addresses: '2', percentage: 50, free, reachable, local })

const status = (over: Partial<StatusResponse>): StatusResponse => ({
  pools: [],
  peer: { id: 'me', nickname: 'me' },
  status: 'ready',
  statusText: 'ready',
  range: '10.99.0.0/29',
  rangeSize: '8',
  init: 'consensus=2',
  peers: [peer('me', true, '3', true), peer('you', true, '1'), peer('far', false, '2')],
  connections: 1,
  allocations: 0,
  freeLocal: '3',
  pendingAllocates: 0,
  pendingClaims: 0,
  conflicts: 0,
  badMessages: 0,
  ...over
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

  describe('with nothing free here', () => {
    const here = (you: string, far: string, me = '0'): StatusResponse =>
      status({ freeLocal: '0', peers: [peer('me', true, me, true), peer('you', true, you), peer('far', false, far)] })
    const msg = 'range 10.99.0.0/29 is exhausted: no free address on this peer or on any reachable peer'

    it('is fine while a reachable peer reports free space', () => {
      expect(statusProblem(here('1', '2'))).toBeNull()
    })

    it('is exhausted when only unreachable peers, or nobody, report free space', () => {
      expect(statusProblem(here('0', '2'))).toBe(msg)
      expect(statusProblem(here('0', '0'))).toBe(msg)
    })

    it('goes by freeLocal for this peer, not its line', () => {
      expect(statusProblem(here('0', '0', '2'))).toBe(msg)
    })
  })
})
