import { describe, expect, it } from 'vitest'
import { parseUniverse } from '@weft/ring'
import { checkAllocate, checkAttachment, checkCni, checkGc, checkPrime, checkRmpeer } from '../src/validate.ts'
import { RequestError } from '../src/errors.ts'

const U = parseUniverse('10.32.0.0/12')

function fails (f: () => unknown, field: string, mention?: string): void {
  let caught: unknown
  try {
    f()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(RequestError)
  expect((caught as RequestError).field).toBe(field)
  if (mention !== undefined) expect((caught as Error).message).toContain(mention)
}

describe('request validation', () => {
  it('accepts a full allocate request and keys it by attachment', () => {
    expect(checkAllocate({ network: 'weft', containerId: 'abc123', ifname: 'eth0', podNamespace: 'ns', podName: 'p', address: '10.32.0.9', gateway: true }, U))
      .toEqual({ network: 'weft', containerId: 'abc123', ifname: 'eth0', key: 'weft/abc123/eth0', podNamespace: 'ns', podName: 'p', offset: 9n, gateway: true })
    expect(checkAllocate({ network: 'lan.v4_2-b', containerId: 'a.b_c-d', ifname: 'net1' }, U))
      .toEqual({ network: 'lan.v4_2-b', containerId: 'a.b_c-d', ifname: 'net1', key: 'lan.v4_2-b/a.b_c-d/net1', gateway: false })
  })

  it('names the field of every bad value', () => {
    fails(() => checkAllocate(null, U), 'body', 'null')
    fails(() => checkAllocate([], U), 'body', 'array')
    fails(() => checkAllocate({ network: 'weft', ifname: 'eth0' }, U), 'containerId', 'nothing')
    fails(() => checkAllocate({ network: 'weft', containerId: 7, ifname: 'eth0' }, U), 'containerId', 'number')
    fails(() => checkAllocate({ network: 'weft', containerId: '-abc', ifname: 'eth0' }, U), 'containerId', 'must match')
    fails(() => checkAllocate({ network: 'weft', containerId: 'a/b', ifname: 'eth0' }, U), 'containerId')
    fails(() => checkAllocate({ network: 'weft', containerId: 'x'.repeat(300), ifname: 'eth0' }, U), 'containerId')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc' }, U), 'ifname')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'a'.repeat(16) }, U), 'ifname', 'interface name')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'et/h0' }, U), 'ifname')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: '..' }, U), 'ifname')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', podName: 5 }, U), 'podName')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', gateway: 'yes' }, U), 'gateway', 'true or false')
    // The gateway's own key is out of a request's reach: no container id begins with ':'.
    fails(() => checkAttachment({ network: 'weft', containerId: ':gateway', ifname: 'gateway' }), 'containerId')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', podNamespace: 'n'.repeat(254) }, U), 'podNamespace')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', address: '10.48.0.1' }, U), 'address', 'outside the range 10.32.0.0/12')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', address: 'fd00::1' }, U), 'address', 'IPv6')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', address: 'ten' }, U), 'address')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', address: 10 }, U), 'address')
    fails(() => checkAllocate({ containerId: 'abc', ifname: 'eth0' }, U), 'network', 'expected a string, got nothing')
    fails(() => checkAllocate({ network: '', containerId: 'abc', ifname: 'eth0' }, U), 'network', 'is not a network name')
    fails(() => checkAllocate({ network: '-net', containerId: 'abc', ifname: 'eth0' }, U), 'network', 'must match')
    fails(() => checkAllocate({ network: 'a/b', containerId: 'abc', ifname: 'eth0' }, U), 'network', 'must match')
    fails(() => checkAllocate({ network: 'n'.repeat(254), containerId: 'abc', ifname: 'eth0' }, U), 'network', 'longer than 253')
    fails(() => checkAttachment({ network: 7, containerId: 'abc', ifname: 'eth0' }), 'network', 'number')
    fails(() => checkAttachment('abc'), 'body', 'string')
    fails(() => checkGc({ valid: [] }), 'network', 'nothing')
    fails(() => checkGc({ network: 'bad name', valid: [] }), 'network', 'must match')
    fails(() => checkGc({ network: 'weft' }), 'valid', 'array')
    fails(() => checkGc({ network: 'weft', valid: [{ containerId: 'a', ifname: 'eth0' }, { containerId: 'b' }] }), 'valid[1].ifname')
    fails(() => checkGc({ network: 'weft', valid: [3] }), 'valid[0]')
    fails(() => checkRmpeer({ peer: '' }), 'peer')
    fails(() => checkRmpeer({}), 'peer')
    fails(() => checkPrime('x'), 'body')
  })

  it('accepts gc lists, rmpeer names and an empty prime', () => {
    expect(checkGc({ network: 'weft', valid: [] })).toEqual({ network: 'weft', valid: [] })
    expect(checkGc({ network: 'weft', valid: [{ containerId: 'a', ifname: 'eth0' }] }))
      .toEqual({ network: 'weft', valid: [{ network: 'weft', containerId: 'a', ifname: 'eth0', key: 'weft/a/eth0' }] })
    expect(checkRmpeer({ peer: 'node-2' })).toEqual({ peer: 'node-2', force: false })
    expect(checkRmpeer({ peer: 'node-2', force: true })).toEqual({ peer: 'node-2', force: true })
    fails(() => checkRmpeer({ peer: 'node-2', force: 'yes' }), 'force')
    expect(() => { checkPrime(undefined); checkPrime({}) }).not.toThrow()
  })

  it('takes a CNI invocation of CNI_ variables, stdin and a deadline, and names what is wrong', () => {
    const env = { CNI_COMMAND: 'ADD', CNI_ARGS: '' }
    expect(checkCni({ env, stdin: '{}', deadlineMs: 60_000 })).toEqual({ env, stdin: '{}', deadlineMs: 60_000 })
    expect(checkCni({ env, stdin: '' })).toEqual({ env, stdin: '' })
    fails(() => checkCni({ env: { PATH: '/bin' }, stdin: '' }), 'env', 'PATH')
    fails(() => checkCni({ env: { CNI_COMMAND: 7 }, stdin: '' }), 'env.CNI_COMMAND', 'a number')
    fails(() => checkCni({ env: [], stdin: '' }), 'env', 'array')
    fails(() => checkCni({ env, stdin: { a: 1 } }), 'stdin', 'object')
    fails(() => checkCni({ env, stdin: '', deadlineMs: 0 }), 'deadlineMs')
    fails(() => checkCni({ env, stdin: '', deadlineMs: 1.5 }), 'deadlineMs')
  })
})
