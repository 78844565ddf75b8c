import type { PeerLine, PoolStatus, StatusResponse } from '@weft/protocol'
import { describe, expect, it } from 'vitest'
import { statusProblem } from '../src/readiness.ts'

const peer = (id: string, reachable: boolean, free: string, local = false): PeerLine =>
  ({ id, nickname: id, addresses: '2', percentage: 50, free, reachable, local })

const pool = (over: Partial<PoolStatus> = {}): PoolStatus => ({
  pool: 'default',
  status: 'ready',
  statusText: 'ready',
  range: '10.99.0.0/29',
  rangeSize: '8',
  draining: false,
  default: true,
  peers: [peer('me', true, '3', true), peer('you', true, '1'), peer('far', false, '2')],
  allocations: 0,
  freeLocal: '3',
  pendingAllocates: 0,
  pendingClaims: 0,
  conflicts: 0,
  ...over
})

/** The agent's status: the top-level fields are the first pool's, as the agent answers them. */
const status = (...pools: PoolStatus[]): StatusResponse => {
  const first = pools[0] ?? pool()
  return {
    peer: { id: 'me', nickname: 'me' },
    status: first.status,
    statusText: first.statusText,
    range: first.range,
    rangeSize: first.rangeSize,
    init: 'consensus=2',
    peers: first.peers,
    connections: 1,
    allocations: first.allocations,
    freeLocal: first.freeLocal,
    pendingAllocates: 0,
    pendingClaims: 0,
    conflicts: 0,
    badMessages: 0,
    pools
  }
}

describe('statusProblem', () => {
  it('is ready when ready with free space, and when idle (the first ADD initialises the ring)', () => {
    expect(statusProblem(status(pool()))).toBeNull()
    expect(statusProblem(status(pool({ status: 'idle', statusText: 'idle', freeLocal: '0' })))).toBeNull()
  })

  it('names the status otherwise', () => {
    expect(statusProblem(status(pool({ status: 'awaiting-consensus', statusText: 'awaiting consensus (quorum: 2, known: 1)' }))))
      .toEqual({ reason: 'weft agent is not ready: awaiting consensus (quorum: 2, known: 1)', status: 'awaiting-consensus' })
    expect(statusProblem(status(pool({ status: 'waiting-for-space', statusText: 'waiting for IP range grant from peers' })))?.reason).toContain('waiting for IP range')
  })

  describe('with nothing free here', () => {
    const here = (you: string, far: string, me = '0'): StatusResponse =>
      status(pool({ freeLocal: '0', peers: [peer('me', true, me, true), peer('you', true, you), peer('far', false, far)] }))
    const msg = 'range 10.99.0.0/29 is exhausted: no free address on this peer or on any reachable peer'

    it('is fine while a reachable peer reports free space', () => {
      expect(statusProblem(here('1', '2'))).toBeNull()
    })

    it('is exhausted when only unreachable peers, or nobody, report free space', () => {
      expect(statusProblem(here('0', '2'))?.reason).toBe(msg)
      expect(statusProblem(here('0', '0'))?.reason).toBe(msg)
    })

    it('goes by freeLocal for this peer, not its line', () => {
      expect(statusProblem(here('0', '0', '2'))?.reason).toBe(msg)
    })
  })

  describe('with several pools', () => {
    const v6 = pool({ pool: 'default-v6', range: 'fd00::/104', rangeSize: '16777216' })
    const lan = pool({ pool: 'lan', range: '192.168.1.0/24', default: false, freeLocal: '0', peers: [peer('me', true, '0', true)] })

    it('checks every default pool when the config names none: the IPv6 one exhausted is not ready', () => {
      expect(statusProblem(status(pool(), v6, lan))).toBeNull()
      const full6 = { ...v6, freeLocal: '0', peers: [peer('me', true, '0', true)] }
      expect(statusProblem(status(pool(), full6, lan))?.reason).toBe('range fd00::/104 is exhausted: no free address on this peer or on any reachable peer')
      expect(statusProblem(status(pool(), { ...v6, status: 'priming', statusText: 'priming' }))).toEqual({ reason: 'weft agent is not ready (pool default-v6): priming', status: 'priming' })
    })

    it('checks the pools the config names, and only those', () => {
      expect(statusProblem(status(pool(), v6, lan), ['default-v6'])).toBeNull()
      expect(statusProblem(status(pool(), v6, lan), ['lan'])?.reason).toBe('range 192.168.1.0/24 is exhausted: no free address on this peer or on any reachable peer')
      expect(statusProblem(status(pool(), v6), ['lan-b'])).toEqual({ reason: 'weft agent serves no pool "lan-b" (it serves default, default-v6)', status: 'unknown-pool' })
      expect(statusProblem(status(pool(), { ...v6, draining: true }), ['default-v6']))
        .toEqual({ reason: 'pool default-v6 is draining: it takes no new allocations', status: 'pool-draining' })
    })
  })
})
