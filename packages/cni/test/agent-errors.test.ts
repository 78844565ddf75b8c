import { ApiError, ProtocolError } from '@weft/protocol'
import { describe, expect, it } from 'vitest'
import { agentErrorToCni, CniCode, CniError, errorJson } from '../src/index.ts'

describe('agentErrorToCni', () => {
  it('maps retryable agent errors to 11, bad requests and unknown pools to 7, the rest to 999', () => {
    expect(agentErrorToCni(new ApiError(503, 'not-ready', 'awaiting consensus (quorum: 2, known: 1)', true))).toMatchObject({
      code: 11, message: 'awaiting consensus (quorum: 2, known: 1)', details: 'agent error not-ready'
    })
    expect(agentErrorToCni(new ApiError(400, 'bad-request', 'address 1.2.3.4 is outside the range', false)).code).toBe(7)
    expect(agentErrorToCni(new ApiError(409, 'exhausted', 'range is full', false)).code).toBe(999)
    expect(agentErrorToCni(new ApiError(409, 'pool-draining', 'pool old is draining: it takes no new allocations', false)).code).toBe(7)
    expect(agentErrorToCni(new ApiError(404, 'unknown-pool', 'no pool "lan-v4" on this agent (pools: default)', false))).toMatchObject({
      code: 7, message: 'no pool "lan-v4" on this agent (pools: default)', details: 'agent error unknown-pool'
    })
    expect(agentErrorToCni(new ProtocolError('garbage')).code).toBe(999)
    expect(agentErrorToCni(new Error('boom')).message).toBe('Error: boom')
  })

  it('passes a CniError through', () => {
    const e = new CniError(CniCode.invalidConfig, 'x')
    expect(agentErrorToCni(e)).toBe(e)
  })
})

describe('errorJson', () => {
  it('prints the spec error object, details only when there are some', () => {
    expect(errorJson(new CniError(7, 'invalid name'), '1.1.0')).toEqual({ cniVersion: '1.1.0', code: 7, msg: 'invalid name' })
    expect(errorJson(new CniError(11, 'later', 'why'), '0.4.0')).toEqual({ cniVersion: '0.4.0', code: 11, msg: 'later', details: 'why' })
  })
})
