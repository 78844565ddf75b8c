import { describe, expect, it } from 'vitest'
import { parseUniverse } from '@weft/ring'
import { checkAllocate, checkAttachment, checkCni, checkGc, checkPrime, checkRmpeer } from '../src/validate.ts'
import { ApiError } from '@weft/protocol'
import { RequestError } from '../src/errors.ts'
import type { PoolCatalog } from '../src/pool.ts'

const U = parseUniverse('10.32.0.0/12')
const catalog = (ranges: Record<string, string>, defaults: string[]): PoolCatalog => ({
  defaults,
  names: Object.keys(ranges),
  universe: pool => ranges[pool] === undefined ? undefined : { ...parseUniverse(ranges[pool]), ...(pool === 'lan' ? { reserved: [{ start: 1n, end: 2n }, { start: 200n, end: 255n }] } : {}) }
})
const P = catalog({ default: '10.32.0.0/12' }, ['default'])
/** Dual-stack defaults and a LAN pool. */
const DUAL = catalog({ default: '10.32.0.0/12', 'default-v6': 'fd00:10:32::/104', lan: '192.168.1.0/24' }, ['default', 'default-v6'])

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
    expect(checkAllocate({ network: 'weft', containerId: 'abc123', ifname: 'eth0', podNamespace: 'ns', podName: 'p', addresses: ['10.32.0.9'], gateway: true }, P))
      .toEqual({ network: 'weft', containerId: 'abc123', ifname: 'eth0', key: 'weft/abc123/eth0', podNamespace: 'ns', podName: 'p', pools: [{ pool: 'default', offset: 9n }], gateway: true })
    expect(checkAllocate({ network: 'lan.v4_2-b', containerId: 'a.b_c-d', ifname: 'net1' }, P))
      .toEqual({ network: 'lan.v4_2-b', containerId: 'a.b_c-d', ifname: 'net1', key: 'lan.v4_2-b/a.b_c-d/net1', pools: [{ pool: 'default' }], gateway: false })
  })

  it('names the field of every bad value', () => {
    fails(() => checkAllocate(null, P), 'body', 'null')
    fails(() => checkAllocate([], P), 'body', 'array')
    fails(() => checkAllocate({ network: 'weft', ifname: 'eth0' }, P), 'containerId', 'nothing')
    fails(() => checkAllocate({ network: 'weft', containerId: 7, ifname: 'eth0' }, P), 'containerId', 'number')
    fails(() => checkAllocate({ network: 'weft', containerId: '-abc', ifname: 'eth0' }, P), 'containerId', 'must match')
    fails(() => checkAllocate({ network: 'weft', containerId: 'a/b', ifname: 'eth0' }, P), 'containerId')
    fails(() => checkAllocate({ network: 'weft', containerId: 'x'.repeat(300), ifname: 'eth0' }, P), 'containerId')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc' }, P), 'ifname')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'a'.repeat(16) }, P), 'ifname', 'interface name')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'et/h0' }, P), 'ifname')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: '..' }, P), 'ifname')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', podName: 5 }, P), 'podName')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', gateway: 'yes' }, P), 'gateway', 'true or false')
    // The gateway's own key is out of a request's reach: no container id begins with ':'.
    fails(() => checkAttachment({ network: 'weft', containerId: ':gateway', ifname: 'gateway' }), 'containerId')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', podNamespace: 'n'.repeat(254) }, P), 'podNamespace')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', addresses: ['10.48.0.1'] }, P), 'addresses[0]', 'outside the range 10.32.0.0/12')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', addresses: ['fd00::1'] }, P), 'addresses[0]', 'IPv6')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', addresses: ['ten'] }, P), 'addresses[0]')
    fails(() => checkAllocate({ network: 'weft', containerId: 'abc', ifname: 'eth0', addresses: [10] }, P), 'addresses[0]')
    fails(() => checkAllocate({ containerId: 'abc', ifname: 'eth0' }, P), 'network', 'expected a string, got nothing')
    fails(() => checkAllocate({ network: '', containerId: 'abc', ifname: 'eth0' }, P), 'network', 'is not a network name')
    fails(() => checkAllocate({ network: '-net', containerId: 'abc', ifname: 'eth0' }, P), 'network', 'must match')
    fails(() => checkAllocate({ network: 'a/b', containerId: 'abc', ifname: 'eth0' }, P), 'network', 'must match')
    fails(() => checkAllocate({ network: 'n'.repeat(254), containerId: 'abc', ifname: 'eth0' }, P), 'network', 'longer than 253')
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

  it('takes one address per pool: the default pools, or the pools named, with requested addresses placed in them', () => {
    const a = { network: 'weft', containerId: 'abc', ifname: 'eth0' }
    expect(checkAllocate(a, DUAL).pools).toEqual([{ pool: 'default' }, { pool: 'default-v6' }])
    expect(checkAllocate({ ...a, pools: ['lan'] }, DUAL).pools).toEqual([{ pool: 'lan' }])
    expect(checkAllocate({ ...a, addresses: ['fd00:10:32::9', '10.32.0.7'] }, DUAL).pools).toEqual([{ pool: 'default', offset: 7n }, { pool: 'default-v6', offset: 9n }])
    expect(checkAllocate({ ...a, pools: ['lan', 'default-v6'], addresses: ['192.168.1.20'] }, DUAL).pools).toEqual([{ pool: 'lan', offset: 20n }, { pool: 'default-v6' }])
  })

  it('refuses bad pools and addresses, naming them; a pool not served is unknown-pool', () => {
    const a = { network: 'weft', containerId: 'abc', ifname: 'eth0' }
    fails(() => checkAllocate({ ...a, pools: [] }, DUAL), 'pools', 'non-empty array')
    fails(() => checkAllocate({ ...a, pools: 'lan' }, DUAL), 'pools', 'a string')
    fails(() => checkAllocate({ ...a, pools: ['Lan'] }, DUAL), 'pools[0]', '"Lan" is not a pool name')
    fails(() => checkAllocate({ ...a, pools: ['lan-'] }, DUAL), 'pools[0]', 'not a pool name')
    fails(() => checkAllocate({ ...a, pools: ['lan', 'lan'] }, DUAL), 'pools[1]', 'named twice')
    fails(() => checkAllocate({ ...a, pools: [7] }, DUAL), 'pools[0]', 'a number')
    fails(() => checkAllocate({ ...a, addresses: '10.32.0.1' }, DUAL), 'addresses', 'array')
    fails(() => checkAllocate({ ...a, addresses: ['10.32.0.1', '10.32.0.2'] }, DUAL), 'addresses[1]', 'at most one per pool')
    fails(() => checkAllocate({ ...a, addresses: ['192.168.1.20'] }, DUAL), 'addresses[0]', 'in none of the pools asked for')
    fails(() => checkAllocate({ ...a, address: '10.32.0.1' }, DUAL), 'address', '"addresses"')
    fails(() => checkAllocate({ ...a, pools: ['lan'], addresses: ['192.168.1.1'] }, DUAL), 'addresses[0]', '192.168.1.1 is reserved in pool lan')
    fails(() => checkAllocate({ ...a, pools: ['lan'], addresses: ['192.168.1.222'] }, DUAL), 'addresses[0]', 'reserved in pool lan')
    let caught: unknown
    try {
      checkAllocate({ ...a, pools: ['default', 'nowhere'] }, DUAL)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ApiError)
    expect(caught).toMatchObject({ code: 'unknown-pool', status: 404, message: expect.stringContaining('"nowhere"') })
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
