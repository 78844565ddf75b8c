/**
 * Draining and retiring a pool across real agents: refused while an agent holds addresses in it
 * (naming them) or does not drain it, then gone from every agent's ring, store and status, and never
 * served again after a restart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { Cluster, freePort, logEvents, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
beforeEach(async () => { cluster = await Cluster.create('retire') })
afterEach(async () => { await cluster.teardown() })

async function refusal (p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ApiError)
  return err as ApiError
}

const pools = (draining: boolean): string => JSON.stringify([{ name: 'old', range: '10.53.0.0/24', draining }, { name: 'new', range: '172.20.0.0/16', default: true }])

describe('retiring a pool', () => {
  it('is refused while a pod holds an address in it anywhere, then drops it from every agent for good', async () => {
    const [pa, pb] = await Promise.all([freePort(), freePort()])
    const env = (draining: boolean): Record<string, string> => ({
      IPALLOC_INIT: 'consensus=2', IPALLOC_RANGE: '10.52.0.0/24', WEFT_PEERS: `127.0.0.1:${pa},127.0.0.1:${pb}`, WEFT_POOLS: pools(draining)
    })
    const start = async (name: string, port: number, draining: boolean, dataDir?: string): Promise<AgentProcess> =>
      await cluster.start({ name, port, env: env(draining), ...(dataDir === undefined ? {} : { dataDir }) })
    let [a, b] = await Promise.all([start('node-a', pa, false), start('node-b', pb, false)])
    const pod = { network: 'weft', containerId: 'old-pod', ifname: 'eth0', pools: ['old'] }
    const held = (await b!.client.allocate(pod)).addresses[0]!.address
    expect((await a!.client.allocate({ network: 'weft', containerId: 'new-pod', ifname: 'eth0' })).addresses.map(x => x.pool)).toEqual(['new'])

    const notDraining = await refusal(a!.client.retirePool({ pool: 'old' }))
    expect(notDraining).toMatchObject({ code: 'pool-in-use', message: expect.stringContaining('not draining here') })

    // Drained by a rolling restart: the holder keeps its address, nobody gets a new one.
    await cluster.stop(a!)
    a = await start('node-a', pa, true, a!.dataDir)
    await cluster.stop(b!)
    b = await start('node-b', pb, true, b!.dataDir)
    expect((await b.client.allocate(pod)).addresses[0]?.address).toBe(held)
    expect((await refusal(a.client.allocate({ ...pod, containerId: 'late' }))).code).toBe('pool-draining')
    await waitFor('both agents to see each other', async () => (await a!.client.status()).pools.find(p => p.pool === 'old')?.peers.every(p => p.reachable) === true, 200, 100)

    const inUse = await refusal(a.client.retirePool({ pool: 'old' }))
    expect(inUse.code).toBe('pool-in-use')
    expect(inUse.message).toContain(`node-b holds ${held} (weft/old-pod/eth0)`)
    expect((await b.client.status()).pools.map(p => p.pool)).toEqual(['default', 'old', 'new'])

    await b.client.release({ network: 'weft', containerId: 'old-pod', ifname: 'eth0' })
    expect(await a.client.retirePool({ pool: 'old' })).toEqual({ pool: 'old', agents: 2 })
    for (const x of [a, b]) {
      await waitFor(`${x.name} to log that it dropped pool old`, async () => logEvents(x, 'pool-retired').length === 1, 200, 100)
      expect((await x.client.status()).pools.map(p => p.pool)).toEqual(['default', 'new'])
    }
    expect((await a.client.allocations()).allocations.filter(x => x.pool === 'old')).toEqual([])
    expect((await refusal(a.client.retirePool({ pool: 'old' }))).message).toContain('retired already')

    // Restarted with the pool still configured: not served, and said so.
    await cluster.stop(b)
    b = await start('node-b', pb, true, b.dataDir)
    expect((await b.client.status()).pools.map(p => p.pool)).toEqual(['default', 'new'])
    await waitFor('node-b to say it does not serve the retired pool', async () => logEvents(b!, 'pool-retired').some(l => l.pool === 'old'), 100, 100)
    expect((await refusal(b.client.allocate(pod))).code).toBe('unknown-pool')
  })
})
