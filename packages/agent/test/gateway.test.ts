/**
 * The node's gateway of each network: reserved by the agent from its own space on the first allocate
 * that names the network, answered with every allocate and check of it, never given to a pod, never
 * released by a release or GC, kept across a restart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { offsetOf, parseUniverse } from '@weft/ring'
import { ApiError } from '@weft/protocol'
import type { Client, ReportResponse } from '@weft/protocol'
import { Cluster, onlyAddress, startMesh } from '@weft/testkit'

let cluster: Cluster
beforeEach(async () => { cluster = await Cluster.create('gateway') })
afterEach(async () => { await cluster.teardown() })

const pod = (i: number, network = 'n1'): { containerId: string, ifname: string, network: string, gateway: true } => ({ containerId: `c${i}`, ifname: 'eth0', network, gateway: true })

async function codeOf (p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ApiError)
  return (err as ApiError).code
}

/** The owner of the ring entry that holds `address`. */
function ownerOf (report: ReportResponse, address: string): string | undefined {
  const u = parseUniverse(report.ring.range)
  const o = offsetOf(u, address)
  return report.ring.entries.find(e => BigInt(e.token) <= o && o < BigInt(e.token) + BigInt(e.size))?.owner
}

const gatewaysOf = async (client: Client): Promise<Array<[string, string]>> =>
  (await client.allocations()).allocations.filter(a => a.containerId === ':gateway').map(a => [a.network, a.address])

describe('the node gateway of a network', () => {
  it('is one address per network that no pod gets, kept by release, GC and a restart', async () => {
    // /28: 14 usable addresses; two networks' gateways leave 12 for pods. The 13th waits out the timeout.
    const spec = { name: 'solo', env: { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.41.0.0/28', WEFT_REQUEST_TIMEOUT_MS: '1000' } }
    let a = await cluster.start(spec)
    const first = onlyAddress(await a.client.allocate(pod(0)))
    const g1 = first.gateway
    expect(g1).toMatch(/^10\.41\.0\.\d+$/)
    expect(first.address).not.toBe(g1)
    expect((onlyAddress(await a.client.allocate(pod(0)))).gateway).toBe(g1)
    const other = onlyAddress(await a.client.allocate(pod(1, 'n2')))
    const g2 = other.gateway
    expect(g2).toMatch(/^10\.41\.0\.\d+$/)
    expect(g2).not.toBe(g1)
    // Not asked for, the gateway is not in the answer (and none is reserved for a network without one).
    const bare = onlyAddress(await a.client.allocate({ network: 'n1', containerId: 'bare', ifname: 'net1' }))
    expect(bare.gateway).toBeUndefined()
    expect((onlyAddress(await a.client.allocate({ network: 'n3', containerId: 'bare', ifname: 'net1' }))).gateway).toBeUndefined()
    expect((onlyAddress(await a.client.check({ network: 'n1', containerId: 'bare', ifname: 'net1' }))).gateway).toBe(g1)
    expect((onlyAddress(await a.client.check({ network: 'n3', containerId: 'bare', ifname: 'net1' }))).gateway).toBeUndefined()
    await a.client.release({ network: 'n3', containerId: 'bare', ifname: 'net1' })

    const rest = await Promise.all(Array.from({ length: 9 }, async (_, i) => (onlyAddress(await a.client.allocate(pod(i + 2)))).address))
    const addresses = [first.address, other.address, bare.address, ...rest]
    expect(new Set(addresses).size).toBe(12)
    expect(addresses).not.toContain(g1)
    expect(addresses).not.toContain(g2)
    expect(await codeOf(a.client.allocate(pod(99)))).toBe('exhausted')
    expect(await codeOf(a.client.allocate({ ...pod(98), addresses: [g1 ?? ''] }))).toBe('address-unavailable')

    expect(onlyAddress(await a.client.check(pod(0)))).toEqual(first)
    expect(await gatewaysOf(a.client)).toEqual([['n1', g1], ['n2', g2]])

    await a.client.release(pod(0))
    // DEL cannot name the gateway: a container id never begins with ':'.
    expect((await codeOf(a.client.release({ network: 'n1', containerId: ':gateway', ifname: 'gateway' })))).toBe('bad-request')
    await a.client.gc({ network: 'n1', valid: [] })
    await a.client.gc({ network: 'n2', valid: [] })
    expect((await a.client.allocations()).allocations.map(x => x.containerId)).toEqual([':gateway', ':gateway'])

    await cluster.stop(a)
    a = await cluster.start(spec)
    expect(await gatewaysOf(a.client)).toEqual([['n1', g1], ['n2', g2]])
    const again = onlyAddress(await a.client.allocate(pod(50)))
    expect(again.gateway).toBe(g1)
    expect(again.address).not.toBe(g1)
  })

  it('differs per node and comes from the node\'s own ranges', async () => {
    const agents = await startMesh(cluster, ['node1', 'node2', 'node3'], { IPALLOC_RANGE: '10.42.0.0/16' })
    const answers = await Promise.all(agents.map(async (x, i) => onlyAddress(await x.client.allocate(pod(i, 'weft')))))
    const gateways = answers.map(r => r.gateway)
    expect(new Set(gateways).size).toBe(3)
    for (const [i, x] of agents.entries()) {
      const report = await x.client.report()
      expect(ownerOf(report, gateways[i] ?? '')).toBe(report.status.peer.id)
    }
    expect(answers.map(r => r.address).filter(addr => gateways.includes(addr))).toEqual([])
  })
})
