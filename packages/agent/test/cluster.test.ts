import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AllocateResponse, ReportResponse, StatusResponse } from '@weft/protocol'
import { Cluster, freePort, inParallel, onlyAddress, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

const RANGE_SIZE = 1n << 20n // 10.32.0.0/12

let cluster: Cluster
let seeds: AgentProcess[]
let split: { statuses: StatusResponse[], reports: ReportResponse[] }
beforeAll(async () => {
  cluster = await Cluster.create('cluster')
  const ports = [await freePort(), await freePort(), await freePort()]
  const peers = ports.map(p => `127.0.0.1:${p}`).join(',')
  // Every agent gets the same list, itself included, as a DaemonSet would; at the shipped timing
  // (tick, reconnect and ping as in production), so the protocol is tested as it runs in a cluster.
  seeds = await Promise.all(ports.map(async (port, i) => await cluster.start({ name: `seed-${i}`, port, timing: 'production', env: { WEFT_PEERS: peers, IPALLOC_INIT: 'consensus=3' } })))
  // The split, made once here: the first test checks this snapshot, the second adds a fourth agent.
  await seeds[0]!.client.prime()
  await waitFor('all three ready with three owners', async () => {
    const all = await Promise.all(seeds.map(async a => await a.client.status()))
    return all.every(s => s.status === 'ready' && s.peers.length === 3 && s.peers.every(p => p.reachable))
  })
  split = {
    statuses: await Promise.all(seeds.map(async a => await a.client.status())),
    reports: await Promise.all(seeds.map(async a => await a.client.report()))
  }
})
afterAll(async () => { await cluster.teardown() })

async function allocateMany (agent: AgentProcess, count: number, concurrency: number): Promise<AllocateResponse[]> {
  return await inParallel(count, concurrency, async i => await agent.client.allocate({ network: 'weft', containerId: `${agent.name}-c${i}`, ifname: 'eth0' }))
}

const shares = (s: StatusResponse): Map<string, bigint> => new Map(s.peers.map(p => [p.id, BigInt(p.addresses)]))
const sameShares = (a: StatusResponse, b: StatusResponse): boolean =>
  a.peers.length === b.peers.length && a.peers.every(p => shares(b).get(p.id) === BigInt(p.addresses))

describe('three agents with consensus=3, then a fourth', () => {
  it('split the range evenly once, and agree on it', () => {
    const { statuses, reports } = split
    const ids = statuses.map(s => s.peer.id).sort()
    for (const s of statuses) {
      expect([...shares(s).keys()].sort()).toEqual(ids)
      for (const size of shares(s).values()) {
        const diff = size * 3n - RANGE_SIZE
        expect(diff >= -3n && diff <= 3n).toBe(true) // within one address of a third
      }
      expect(shares(s)).toEqual(shares(statuses[0]!))
      expect(s.peers[0]).toMatchObject({ id: s.peer.id, local: true })
    }
    for (const r of reports) expect(r.ring.seeds).toEqual(ids)
  })

  it('a fourth agent joins later, gets space by donation, and 3000 allocations never overlap', async () => {
    const fourth = await cluster.start({ name: 'late', timing: 'production', env: { WEFT_PEERS: seeds.map(a => a.addr).join(',') } })
    const results = await Promise.all([...seeds, fourth].map(async a => await allocateMany(a, 750, 16)))
    const addresses = results.flat().map(r => onlyAddress(r).address)
    expect(addresses).toHaveLength(3000)
    expect(new Set(addresses).size).toBe(3000)

    const listed = await Promise.all([...seeds, fourth].map(async a => (await a.client.allocations()).allocations))
    const union = listed.flat().map(x => x.address)
    expect(union).toHaveLength(3000)
    expect(new Set(union).size).toBe(3000)
    for (const list of listed) expect(list).toHaveLength(750)

    const late = await fourth.client.status()
    const own = late.peers.find(p => p.local)
    expect(BigInt(own?.addresses ?? '0')).toBeGreaterThan(0n)
    await waitFor('every agent sees four owners covering the range', async () => {
      const all = await Promise.all([...seeds, fourth].map(async a => await a.client.status()))
      return all.every(s => s.peers.length === 4 && [...shares(s).values()].reduce((n, v) => n + v, 0n) === RANGE_SIZE) &&
        all.every(s => sameShares(s, all[0]!))
    })
  })
})
