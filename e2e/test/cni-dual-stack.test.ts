/**
 * The weft plugin exec'd against a real dual-stack agent (IPALLOC_RANGE with an IPv4 and an IPv6
 * CIDR) that also serves two more IPv4 pools: every config version's layout with two addresses,
 * requested addresses per family, `ipam.pools`, the bad-input table of pools, and all or nothing
 * when one family is exhausted (nothing of the other is held, as the agent and `weft ps` show;
 * STATUS says which pool is full).
 */
import { SUPPORTED_VERSIONS, versionAtLeast } from '@weft/cni'
import type { AllocationInfo } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, Cluster, resultAddresses } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { weft } from '../src/cli.ts'
import { netconf, pluginCalls } from '../src/plugin-calls.ts'

const V4 = '10.99.0.0/16'
const V6 = 'fd00:99::/104'
const POOLS = JSON.stringify([
  { name: 'lan-a', range: '10.100.0.0/24', reserved: ['10.100.0.1', '10.100.0.200-10.100.0.254'] },
  { name: 'lan-b', range: '10.101.0.0/24' }
])
let cluster: Cluster
let agent: AgentProcess

beforeAll(async () => {
  await buildPlugin()
  cluster = await Cluster.create('cni-dual')
  agent = await cluster.start({ name: 'dual', env: { IPALLOC_RANGE: `${V4},${V6}`, IPALLOC_INIT: 'consensus=1', WEFT_POOLS: POOLS } })
  await agent.client.prime()
})
afterAll(async () => {
  await cluster?.teardown()
})

const { add, del, check } = pluginCalls(() => agent.socketPath)
let seq = 0
const newId = (): string => `dual${process.pid}x${++seq}`

async function allocations (): Promise<AllocationInfo[]> {
  return (await agent.client.allocations()).allocations
}
const heldBy = async (containerId: string): Promise<AllocationInfo[]> => (await allocations()).filter(a => a.containerId === containerId)
/** This node's gateway of network `e2e` in `pool`, reserved by the first ADD. */
const gatewayIn = async (pool: string): Promise<string | undefined> =>
  (await allocations()).find(a => a.containerId === ':gateway' && a.network === 'e2e' && a.pool === pool)?.address
const v4Of = (cidrs: string[]): string | undefined => cidrs.find(c => !c.includes(':'))
const v6Of = (cidrs: string[]): string | undefined => cidrs.find(c => c.includes(':'))

describe.each(SUPPORTED_VERSIONS)('config version %s, the default pools (dual-stack)', (version) => {
  const conf = netconf({ cniVersion: version })

  it('ADD gives one IPv4 and one IPv6 address in the version\'s layout, each with its pool\'s gateway; DEL releases both', async () => {
    const id = newId()
    const r = await add(id, conf)
    expect(r.code, r.stdout).toBe(0)
    const got = resultAddresses(r.json)
    const [a4, a6] = [v4Of(got), v6Of(got)]
    expect(a4).toMatch(/^10\.99\.\d+\.\d+\/16$/)
    expect(a6).toMatch(/^fd00:99::[0-9a-f:]+\/104$/)
    const [g4, g6] = [await gatewayIn('default'), await gatewayIn('default-v6')]
    expect(g4).toMatch(/^10\.99\./)
    expect(g6).toMatch(/^fd00:99::/)
    // The IPv6 range, all but the gateway, via the gateway: one route per prefix bit below /104.
    const v6Routes = (routes: unknown): Array<{ dst: string, gw: string }> => (routes as Array<{ dst: string, gw: string }>)
    if (version === '0.1.0' || version === '0.2.0') {
      expect(r.json).toMatchObject({ cniVersion: version, ip4: { ip: a4, gateway: g4 }, ip6: { ip: a6, gateway: g6 }, dns: {} })
      expect((r.json?.ip4 as Record<string, unknown>).routes).toBeUndefined()
      const routes = v6Routes((r.json?.ip6 as Record<string, unknown>).routes)
      expect(routes).toHaveLength(24)
      expect(routes.every(x => x.gw === g6)).toBe(true)
    } else {
      const v = version.startsWith('0.')
      expect(r.json?.ips).toEqual([
        { ...(v ? { version: '4' } : {}), address: a4, gateway: g4 },
        { ...(v ? { version: '6' } : {}), address: a6, gateway: g6 }
      ])
      const routes = v6Routes(r.json?.routes)
      expect(routes).toHaveLength(24)
      expect(routes.every(x => x.gw === g6 && x.dst.startsWith('fd00:99:'))).toBe(true)
    }
    expect((await heldBy(id)).map(a => [a.pool, `${a.address}/${a.pool === 'default' ? 16 : 104}`]).sort())
      .toEqual([['default', a4], ['default-v6', a6]])

    expect(resultAddresses((await add(id, conf)).json)).toEqual(got)
    if (versionAtLeast(version, '0.4.0')) expect((await check(id, { ...conf, prevResult: r.json })).code).toBe(0)
    expect((await del(id, conf)).code).toBe(0)
    expect(await heldBy(id)).toEqual([])
    if (versionAtLeast(version, '0.4.0')) expect((await check(id, conf)).json).toMatchObject({ code: 999 })
  })
})

describe('requested addresses', () => {
  it.each<[string, (a4: string, a6: string) => [Record<string, unknown>, string | undefined]]>([
    ['runtimeConfig.ips', (a4, a6) => [netconf({ runtimeConfig: { ips: [`${a6}/104`, `${a4}/16`] } }), undefined]],
    ['args.cni.ips', (a4, a6) => [netconf({ args: { cni: { ips: [a4, a6] } } }), undefined]],
    ['CNI_ARGS IP=', (a4, a6) => [netconf(), `IP=${a4},${a6}`]],
    ['CNI_ARGS IP= and runtimeConfig.ips, one each', (a4, a6) => [netconf({ runtimeConfig: { ips: [a6] } }), `IP=${a4}`]]
  ])('gives one of each family as asked with %s', async (_, make) => {
    const id = newId()
    const [a4, a6] = [`10.99.200.${seq}`, `fd00:99::c8:${seq}`]
    const [conf, args] = make(a4, a6)
    const r = await add(id, conf, args)
    expect(r.code, r.stdout).toBe(0)
    expect(resultAddresses(r.json)).toEqual([`${a4}/16`, `${a6}/104`])
    expect((await del(id, conf)).code).toBe(0)
  })

  it('gives the one asked for in its family and any address in the other', async () => {
    const id = newId()
    const r = await add(id, netconf(), 'IP=fd00:99::c9:1')
    expect(r.code, r.stdout).toBe(0)
    expect(v6Of(resultAddresses(r.json))).toBe('fd00:99::c9:1/104')
    expect(v4Of(resultAddresses(r.json))).toMatch(/^10\.99\./)
    expect((await del(id, netconf())).code).toBe(0)
  })
})

describe('ipam.pools', () => {
  it('takes one address from each pool named, in order, and from no other', async () => {
    const id = newId()
    const conf = netconf({}, { pools: ['default-v6', 'lan-a'] })
    const r = await add(id, conf)
    expect(r.code, r.stdout).toBe(0)
    const got = resultAddresses(r.json)
    expect(got).toHaveLength(2)
    expect(got[0]).toMatch(/^fd00:99::/)
    expect(got[1]).toMatch(/^10\.100\.0\.\d+\/24$/)
    expect((await heldBy(id)).map(a => a.pool).sort()).toEqual(['default-v6', 'lan-a'])
    expect((await check(id, { ...conf, prevResult: r.json })).code).toBe(0)
    // CHECK with a config naming a pool the attachment holds nothing of fails.
    expect((await check(id, netconf({}, { pools: ['lan-b'] }))).json).toMatchObject({ code: 999, msg: expect.stringContaining('holds no address of pool lan-b') })
    expect((await del(id, conf)).code).toBe(0)
    expect(await heldBy(id)).toEqual([])
  })

  it('carries two IPv4 pools in 0.3.0 and later, and refuses them in 0.2.0 holding nothing', async () => {
    const two = { pools: ['lan-a', 'lan-b'] }
    const id = newId()
    const r = await add(id, netconf({ cniVersion: '0.3.1' }, two))
    expect(r.code, r.stdout).toBe(0)
    expect(resultAddresses(r.json)).toHaveLength(2)
    expect((await del(id, netconf({}, two))).code).toBe(0)
    const old = newId()
    const refused = await add(old, netconf({ cniVersion: '0.2.0' }, two))
    expect(refused.json).toMatchObject({ code: 7, msg: expect.stringContaining('config version 0.2.0 carries one IPv4 address') })
    expect(await heldBy(old)).toEqual([])
  })

  it.each<[string, Record<string, unknown>, Record<string, unknown>, string | undefined, string]>([
    ['an unknown pool', {}, { pools: ['default', 'lan-c'] }, undefined, 'lan-c'],
    ['a malformed pool name', {}, { pools: ['Lan_A'] }, undefined, 'invalid ipam.pools[0]: "Lan_A" is not a pool name'],
    ['a pool named twice', {}, { pools: ['lan-a', 'lan-a'] }, undefined, 'invalid ipam.pools[1]: "lan-a" is listed twice'],
    ['an empty pool list', {}, { pools: [] }, undefined, 'invalid ipam.pools: empty'],
    ['a reserved address requested', { runtimeConfig: { ips: ['10.100.0.1'] } }, { pools: ['lan-a'] }, undefined, '10.100.0.1 is reserved in pool lan-a'],
    ['an address in a reserved range requested', {}, { pools: ['lan-a'] }, 'IP=10.100.0.210', '10.100.0.210 is reserved in pool lan-a'],
    ['an address outside the pools asked for', { runtimeConfig: { ips: ['10.101.0.9'] } }, { pools: ['lan-a'] }, undefined, '10.101.0.9'],
    ['two IPv4 addresses for the default pools', {}, {}, 'IP=10.99.201.1,10.99.201.2', 'more than one IPv4 address requested'],
    ['more addresses than pools named', { runtimeConfig: { ips: ['10.100.0.9', '10.101.0.9'] } }, { pools: ['lan-a'] }, undefined, '2 addresses requested']
  ])('%s: code 7 naming it, nothing allocated', async (_, extra, ipam, args, words) => {
    const before = await allocations()
    const r = await add(newId(), netconf(extra, ipam), args)
    expect(r.code).not.toBe(0)
    expect(r.json).toMatchObject({ code: 7 })
    expect(String(r.json?.msg)).toContain(words)
    expect(await allocations()).toEqual(before)
  })
})

describe('one family exhausted', () => {
  it('fails the ADD with try-again-later and holds nothing of the other family, in the agent and in weft ps', async () => {
    // A /30 has two addresses to give: the node's gateway and one pod. The IPv6 range has plenty.
    const tiny = await cluster.start({ name: 'tiny', env: { IPALLOC_RANGE: '10.98.0.0/30,fd00:98::/104', IPALLOC_INIT: 'consensus=1', WEFT_REQUEST_TIMEOUT_MS: '1000' } })
    const calls = pluginCalls(() => tiny.socketPath)
    await tiny.client.prime()
    const first = newId()
    expect((await calls.add(first, netconf())).code).toBe(0)
    const second = newId()
    const r = await calls.add(second, netconf())
    expect(r.json).toMatchObject({ code: 11, msg: expect.stringContaining('10.98.0.0/30') })
    const held = (await tiny.client.allocations()).allocations
    expect(held.filter(a => a.containerId === second)).toEqual([])
    // Only the first pod and the two gateways: no IPv6 address was kept for the second.
    expect(held.filter(a => a.pool === 'default-v6').map(a => a.containerId).sort()).toEqual([':gateway', first].sort())
    // STATUS: not ready for the default pools (IPv4 is full), ready for a config naming the IPv6 pool alone.
    expect((await calls.cni({ command: 'STATUS' }, netconf())).json)
      .toMatchObject({ code: 50, msg: 'range 10.98.0.0/30 is exhausted: no free address on this peer or on any reachable peer' })
    expect((await calls.cni({ command: 'STATUS' }, netconf({}, { pools: ['default-v6'] }))).code).toBe(0)
    const ps = await weft(['ps', '--socket', tiny.socketPath])
    expect(ps.code, ps.stderr).toBe(0)
    expect(ps.stdout).toContain(first)
    expect(ps.stdout).not.toContain(second)
    // Freed, the IPv4 pool serves again: the same ADD now gets both families.
    expect((await calls.del(first, netconf())).code).toBe(0)
    const again = await calls.add(second, netconf())
    expect(again.code, again.stdout).toBe(0)
    expect(resultAddresses(again.json).map(a => a.includes(':'))).toEqual([false, true])
    await cluster.stop(tiny)
  })
})
