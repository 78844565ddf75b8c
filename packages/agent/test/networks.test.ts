/**
 * One agent process serving two CNI networks (a primary one and, say, a Multus secondary one): an
 * attachment is (network, container, interface), and GC is per network.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { Cluster, onlyAddress } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
let a: AgentProcess
beforeEach(async () => {
  cluster = await Cluster.create('networks')
  a = await cluster.start({ name: 'solo', env: { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.41.0.0/24' } })
  await a.client.prime()
})
afterEach(async () => { await cluster.teardown() })

const held = async (): Promise<Array<[string, string, string, string]>> =>
  (await a.client.allocations()).allocations.map(x => [x.network, x.containerId, x.ifname, x.address])

describe('attachments per CNI network', () => {
  it('GC on one network keeps every other network\'s allocations (the issue\'s reproduction)', async () => {
    const onA = onlyAddress(await a.client.allocate({ network: 'neta', containerId: 'pod-a', ifname: 'eth0', podNamespace: 'ns', podName: 'a' }))
    const onB = onlyAddress(await a.client.allocate({ network: 'netb', containerId: 'pod-b', ifname: 'net1' }))
    const staleB = onlyAddress(await a.client.allocate({ network: 'netb', containerId: 'gone', ifname: 'net1' }))

    const gc = await a.client.gc({ network: 'netb', valid: [{ containerId: 'pod-b', ifname: 'net1' }] })
    expect(gc.released).toEqual([expect.objectContaining({ network: 'netb', containerId: 'gone', ifname: 'net1', address: staleB.address })])
    expect(await held()).toEqual([
      ['neta', 'pod-a', 'eth0', onA.address],
      ['netb', 'pod-b', 'net1', onB.address]
    ])
    expect(onlyAddress(await a.client.check({ network: 'neta', containerId: 'pod-a', ifname: 'eth0' }))).toEqual(onA)

    // GC on a network with nothing listed empties that network alone.
    expect((await a.client.gc({ network: 'neta', valid: [] })).released.map(x => x.address)).toEqual([onA.address])
    expect(await held()).toEqual([['netb', 'pod-b', 'net1', onB.address]])

    // And it all holds across a restart: the keys on disk carry the network.
    await cluster.stop(a)
    a = await cluster.start({ name: 'solo', dataDir: a.dataDir, env: { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.41.0.0/24' } })
    expect(await held()).toEqual([['netb', 'pod-b', 'net1', onB.address]])
  })

  it('the same container and interface on two networks are two attachments, with two addresses', async () => {
    const att = { containerId: 'pod-x', ifname: 'eth0' }
    const x = onlyAddress(await a.client.allocate({ network: 'neta', ...att }))
    const y = onlyAddress(await a.client.allocate({ network: 'netb', ...att }))
    expect(y.address).not.toBe(x.address)
    // Each is idempotent on its own network.
    expect(onlyAddress(await a.client.allocate({ network: 'neta', ...att }))).toEqual(x)
    expect(onlyAddress(await a.client.check({ network: 'netb', ...att }))).toEqual(y)
    expect(await held()).toEqual([['neta', 'pod-x', 'eth0', x.address], ['netb', 'pod-x', 'eth0', y.address]])

    // Releasing one leaves the other.
    expect(await a.client.release({ network: 'neta', ...att })).toEqual({ released: [x.address] })
    const gone = await a.client.check({ network: 'neta', ...att }).then(() => null, (e: unknown) => e)
    expect(gone).toBeInstanceOf(ApiError)
    expect((gone as ApiError).code).toBe('unknown-attachment')
    expect((gone as ApiError).message).toBe('no allocation for container pod-x interface eth0 on network neta')
    expect(onlyAddress(await a.client.check({ network: 'netb', ...att }))).toEqual(y)
    expect(await held()).toEqual([['netb', 'pod-x', 'eth0', y.address]])
  })
})
