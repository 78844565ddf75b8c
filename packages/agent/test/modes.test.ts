import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { ApiError } from '@weft/protocol'
import type { StatusResponse } from '@weft/protocol'
import { loadOrCreateIdentity } from '../src/identity.ts'
import { Cluster, freePort, onlyAddress, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

const RANGE = '10.44.0.0/16'
let cluster: Cluster
beforeAll(async () => { cluster = await Cluster.create('modes') })
afterAll(async () => { await cluster.teardown() })

// The seeded pair is built once, before both tests that use it; neither reads what the other wrote.
describe('init modes: two seeds', () => {
  let a: AgentProcess
  let b: AgentProcess
  let ids: string[]
  let first: StatusResponse
  beforeAll(async () => {
    const dirs = [join(cluster.dir, 'a'), join(cluster.dir, 'b')]
    // The peer ids must be known up front: create the node keys the agents will load.
    ids = await Promise.all(dirs.map(async d => (await loadOrCreateIdentity(d)).peerId))
    const ports = [await freePort(), await freePort()]
    const env = { IPALLOC_RANGE: RANGE, IPALLOC_INIT: `seed=${ids.join(',')}`, WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(',') }
    const started = await Promise.all(dirs.map(async (dataDir, i) => await cluster.start({ name: `seed-${i}`, dataDir, port: ports[i], env })))
    a = started[0]!
    b = started[1]!
    // Seeded without any network round: ready on its own from the start, before the observer joins.
    first = await a.client.status()
  })

  it('seed= splits at once between the named peers, with no vote', async () => {
    expect(first.status).toBe('ready')
    expect(first.peers.map(p => [p.id, p.addresses]).sort()).toEqual(ids.map(id => [id, '32768']).sort())
    const [x, y] = await Promise.all([a, b].map(async agent => await agent.client.allocate({ network: 'weft', containerId: 'same', ifname: 'eth0' })))
    expect(onlyAddress(x!).address).not.toBe(onlyAddress(y!).address)
    expect((await a.client.report()).ring.seeds).toEqual([...ids].sort())
  })

  it('an observer is no seed and owns only what it was given', async () => {
    const o = await cluster.start({ name: 'observer', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'observer', WEFT_PEERS: [a, b].map(x => x.addr).join(',') } })
    await waitFor('the observer learns the ring', async () => (await o.client.status()).status === 'ready')
    const got = await o.client.allocate({ network: 'weft', containerId: 'obs', ifname: 'eth0' })
    expect(onlyAddress(got).address).toMatch(/^10\.44\./)
    const status = await o.client.status()
    expect(status.init).toBe('observer')
    const own = status.peers.find(p => p.local)
    expect(BigInt(own?.addresses ?? '0')).toBeGreaterThan(0n)
    // Its space came from a seed by donation: the split itself is still the seeds' alone.
    expect((await o.client.report()).ring.seeds).toEqual([...ids].sort())
    expect(BigInt(own?.addresses ?? '0')).toBeLessThan(32768n)
  })
})

describe('init modes: on their own', () => {

  it('an observer alone stays priming and answers allocations retryable', async () => {
    const o = await cluster.start({ name: 'lonely', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'observer', WEFT_REQUEST_TIMEOUT_MS: '500' } })
    expect((await o.client.status()).status).toBe('priming')
    const err = await o.client.allocate({ network: 'weft', containerId: 'c', ifname: 'eth0' }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ code: 'not-ready', retryable: true, status: 503 })
  })

  it('default consensus with one peer list for every node, itself included, still decides', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    // Three agents, four addresses counted (1 + WEFT_PEERS): N=4, so the split must settle for a quorum.
    const env = { IPALLOC_RANGE: RANGE, WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(',') }
    const nodes = await Promise.all(ports.map(async (port, i) => await cluster.start({ name: `ds-${i}`, port, env })))
    expect((await nodes[0]!.client.status()).init).toBe('consensus=4')
    await nodes[0]!.client.prime()
    await waitFor('all three ready with three owners', async () =>
      (await Promise.all(nodes.map(async n => await n.client.status()))).every(s => s.status === 'ready' && s.peers.length === 3))
    const seeds = (await nodes[1]!.client.report()).ring.seeds
    expect(seeds).toEqual((await Promise.all(nodes.map(async n => (await n.client.status()).peer.id))).sort())
  })
})
