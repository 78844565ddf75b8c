/**
 * Pools with real agent processes: dual-stack defaults and a LAN pool with reserved addresses on one
 * agent (all or nothing across pools, unknown pools, reserved addresses, status, metrics and a
 * restart per pool), and two agents that disagree about a pool's range.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { Cluster, exitOf, freePort, logEvents, startMesh, waitFor } from '@weft/testkit'

let cluster: Cluster
beforeEach(async () => { cluster = await Cluster.create('pools') })
afterEach(async () => { await cluster.teardown() })

async function codeOf (p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ApiError)
  return (err as ApiError).code
}

const LAN = { name: 'lan', range: '192.168.77.0/28', reserved: ['192.168.77.1', '192.168.77.8-192.168.77.14'] }

describe('pools on one agent', () => {
  it('serves dual-stack defaults and a LAN pool, all or nothing, reserved addresses never, each pool kept across a restart', async () => {
    const port = await freePort()
    const spec = {
      name: 'solo',
      env: {
        IPALLOC_INIT: 'consensus=1',
        IPALLOC_RANGE: '10.50.0.0/24,fd00:50::/120',
        WEFT_POOLS: JSON.stringify([LAN]),
        WEFT_REQUEST_TIMEOUT_MS: '1000',
        WEFT_METRICS_ADDR: `127.0.0.1:${port}`
      }
    }
    let a = await cluster.start(spec)
    const pod = { network: 'weft', containerId: 'pod-1', ifname: 'eth0' }
    const both = await a.client.allocate(pod)
    expect(both.addresses).toEqual([
      { pool: 'default', address: expect.stringMatching(/^10\.50\.0\.\d+$/), prefixLength: 24, range: '10.50.0.0/24' },
      { pool: 'default-v6', address: expect.stringMatching(/^fd00:50::[0-9a-f]+$/), prefixLength: 120, range: 'fd00:50::/120' }
    ])
    expect(await a.client.allocate(pod)).toEqual(both)
    expect(await a.client.check(pod)).toEqual(both)

    // The LAN's /28 keeps network, broadcast and eight reserved addresses out: six for pods, exactly those.
    const lan = []
    for (let i = 0; i < 6; i++) lan.push((await a.client.allocate({ network: 'lan', containerId: `l${i}`, ifname: 'net1', pools: ['lan'] })).addresses[0]?.address)
    expect(lan.sort()).toEqual(['192.168.77.2', '192.168.77.3', '192.168.77.4', '192.168.77.5', '192.168.77.6', '192.168.77.7'])
    expect(await codeOf(a.client.allocate({ network: 'lan', containerId: 'l7', ifname: 'net1', pools: ['lan'] }))).toBe('exhausted')

    // All or nothing: the LAN is full, so the attachment holds nothing of the default pool either.
    const before = (await a.client.allocations()).allocations.length
    expect(await codeOf(a.client.allocate({ network: 'multi', containerId: 'm1', ifname: 'eth0', pools: ['default', 'lan'] }))).toBe('exhausted')
    expect(await codeOf(a.client.check({ network: 'multi', containerId: 'm1', ifname: 'eth0' }))).toBe('unknown-attachment')
    expect((await a.client.allocations()).allocations).toHaveLength(before)

    expect(await codeOf(a.client.allocate({ ...pod, containerId: 'x', pools: ['nowhere'] }))).toBe('unknown-pool')
    expect(await codeOf(a.client.allocate({ ...pod, containerId: 'x', pools: ['lan'], addresses: ['192.168.77.9'] }))).toBe('bad-request')

    const status = await a.client.status()
    expect(status.pools.map(p => [p.pool, p.range, p.allocations, p.default])).toEqual([
      ['default', '10.50.0.0/24', 1, true], ['default-v6', 'fd00:50::/120', 1, true], ['lan', '192.168.77.0/28', 6, false]
    ])
    const metrics = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).split('\n')
    for (const line of ['weft_ips{state="local-used",pool="lan"} 6', 'weft_ips{state="local-used",pool="default-v6"} 1', 'weft_max_ips{pool="lan"} 16']) expect(metrics).toContain(line)

    await cluster.stop(a)
    a = await cluster.start({ ...spec, dataDir: a.dataDir })
    expect(await a.client.check(pod)).toEqual(both)
    const held = (await a.client.allocations()).allocations
    expect(held.filter(x => x.pool === 'lan').map(x => x.address).sort()).toEqual(lan)
    expect(await a.client.release(pod)).toEqual({ released: both.addresses.map(x => x.address) })
    expect(await a.client.release(pod)).toEqual({ released: [] })
  })

  it('refuses a pool whose range the data dir holds otherwise, naming it; a draining pool keeps its holders and takes no one new', async () => {
    const env = { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.51.0.0/24', WEFT_POOLS: JSON.stringify([{ name: 'lan', range: '192.168.77.0/28' }]) }
    let a = await cluster.start({ name: 'drain', env })
    const held = (await a.client.allocate({ network: 'lan', containerId: 'old', ifname: 'net1', pools: ['lan'] })).addresses
    await cluster.stop(a)
    const moved = await cluster.spawn({ name: 'moved', dataDir: a.dataDir, env: { ...env, WEFT_POOLS: JSON.stringify([{ name: 'lan', range: '192.168.78.0/28' }]) } })
    expect(await exitOf(moved)).toBe(1)
    expect(moved.output.join('\n')).toContain('the range 192.168.77.0/28 of pool lan, but the configuration gives 192.168.78.0/28')

    a = await cluster.start({ name: 'drain', dataDir: a.dataDir, port: a.port, env: { ...env, WEFT_POOLS: JSON.stringify([{ name: 'lan', range: '192.168.77.0/28', draining: true }]) } })
    expect(await a.client.allocate({ network: 'lan', containerId: 'old', ifname: 'net1', pools: ['lan'] })).toEqual({ addresses: held })
    expect(await codeOf(a.client.allocate({ network: 'lan', containerId: 'new', ifname: 'net1', pools: ['lan'] }))).toBe('pool-draining')
    expect((await a.client.status()).pools.find(p => p.pool === 'lan')).toMatchObject({ draining: true, allocations: 1 })
  })
})

describe('pools across agents', () => {
  it('agents that disagree about a pool\'s range refuse to merge it and log it; the pools they agree on work', async () => {
    const [pa, pb] = await Promise.all([freePort(), freePort()])
    const peers = `127.0.0.1:${pa},127.0.0.1:${pb}`
    const common = { IPALLOC_INIT: 'consensus=2', IPALLOC_RANGE: '10.52.0.0/24', WEFT_PEERS: peers }
    const [a, b] = await Promise.all([
      cluster.start({ name: 'node-a', port: pa, env: { ...common, WEFT_POOLS: JSON.stringify([{ name: 'lan', range: '192.168.77.0/28' }]) } }),
      cluster.start({ name: 'node-b', port: pb, env: { ...common, WEFT_POOLS: JSON.stringify([{ name: 'lan', range: '192.168.78.0/28' }]) } })
    ])
    await a!.client.prime().catch(() => undefined)
    await waitFor('a rejected ring of pool lan', async () => [a!, b!].some(x => logEvents(x, 'rejected-ring').some(l => l.pool === 'lan')), 200, 100)
    const rejected = [a!, b!].flatMap(x => logEvents(x, 'rejected-ring')).filter(l => l.pool === 'lan')
    expect(String(rejected[0]?.reason)).toMatch(/192\.168\.7[78]\.0\/28/)
    // The default pool, which they agree on, serves from both.
    const got = await Promise.all([a!, b!].map(async x => (await x.client.allocate({ network: 'weft', containerId: x.name, ifname: 'eth0' })).addresses[0]?.address))
    expect(new Set(got).size).toBe(2)
  })

  it('each pool has its own init and takeover: rmpeer takes a dead peer over in every pool whose ring knows it', async () => {
    const agents = await startMesh(cluster, ['t0', 't1', 't2'], {
      IPALLOC_RANGE: '10.54.0.0/24', WEFT_POOLS: JSON.stringify([{ name: 'lan', range: '192.168.79.0/24' }]), WEFT_REQUEST_TIMEOUT_MS: '5000'
    })
    const [survivor, , dead] = agents as [typeof agents[0], typeof agents[0], typeof agents[0]]
    // Each pool's ring is split among all three, by its own init.
    await waitFor('both rings split among the three', async () => (await survivor.client.status()).pools.every(p => p.peers.length === 3 && p.peers.every(x => x.addresses !== '0')), 200, 100)
    const owned = (await survivor.client.status()).pools.map(p => BigInt(p.peers.find(x => x.nickname === 't2')!.addresses))
    await cluster.kill(dead)
    await waitFor('t2 unreachable', async () => (await survivor.client.status()).pools.every(p => p.peers.some(x => x.nickname === 't2' && !x.reachable)), 200, 100)
    const r = await survivor.client.rmpeer({ peer: 't2' })
    expect(r.nickname).toBe('t2')
    await waitFor('t2 gone from both rings', async () => (await survivor.client.status()).pools.every(p => !p.peers.some(x => x.nickname === 't2')), 200, 100)
    // What the survivor inherited is counted over both pools (the heir may be the other agent, per pool).
    expect(BigInt(r.takenOver) <= owned.reduce((a, b) => a + b, 0n)).toBe(true)
    const lan = (await survivor.client.allocate({ network: 'lan', containerId: 'after', ifname: 'net1', pools: ['lan'] })).addresses[0]
    expect(lan?.address).toMatch(/^192\.168\.79\./)
  })
})
