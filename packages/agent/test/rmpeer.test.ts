import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { addressAt, parseUniverse } from '@weft/ring'
import { Cluster, exitOf, logEvents, onlyAddress, startMesh, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
let agents: AgentProcess[]
beforeAll(async () => {
  cluster = await Cluster.create('rmpeer')
  agents = await startMesh(cluster, ['n0', 'n1', 'n2'], { IPALLOC_RANGE: '10.60.0.0/16', WEFT_REQUEST_TIMEOUT_MS: '5000' })
})
afterAll(async () => { await cluster.teardown() })

// n1 stays up throughout; only the second test kills (and restarts) n2, so neither reads what the other wrote.
describe('rmpeer', () => {
  it('refuses to take over a live peer', async () => {
    const err = await agents[0]!.client.rmpeer({ peer: 'n1' }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('peer-alive')
  })

  it('takes over a dead peer by nickname, once, and the heir serves its range; the removed peer, restarted with its old data dir, learns it was removed and stops', async () => {
    const [a, b, dead] = agents as [AgentProcess, AgentProcess, AgentProcess]
    const deadId = (await dead.client.status()).peer.id
    const deadShare = (await a.client.status()).peers.find(p => p.id === deadId)?.addresses
    const deadEntry = (await a.client.report()).ring.entries.find(e => e.owner === deadId && BigInt(e.size) > 2n)
    const inDeadRange = addressAt(parseUniverse('10.60.0.0/16'), BigInt(deadEntry?.token ?? '0') + 1n)
    await cluster.kill(dead)
    await waitFor('the dead peer shows unreachable', async () => (await a.client.status()).peers.find(p => p.id === deadId)?.reachable === false)

    const res = await a.client.rmpeer({ peer: 'n2' })
    expect(res).toEqual({ peer: deadId, nickname: 'n2', takenOver: deadShare })
    await waitFor('both survivors see two owners covering the range', async () => {
      const all = await Promise.all([a, b].map(async x => await x.client.status()))
      return all.every(s => s.peers.length === 2 && s.peers.reduce((n, p) => n + BigInt(p.addresses), 0n) === 65536n)
    })
    // Asking again takes nothing over again: one removal, one heir. Once the heir has completed the
    // removal (it may, before this asks) the dead peer's record and nickname are gone; its id still
    // answers until the floor compacts the removal away too, and then it names no known peer.
    const heirId = (await a.client.status()).peer.id
    const again = await b.client.rmpeer({ peer: deadId }).then(r => r, (e: unknown) => e)
    if (again instanceof ApiError) expect(again.code).toBe('unknown-peer')
    else {
      expect(again).toMatchObject({ peer: deadId, takenOver: '0' })
      expect(['n2', '']).toContain((again as { nickname: string }).nickname)
    }
    expect([[{ peer: deadId, heir: heirId }], []]).toContainEqual((await b.client.report()).ring.removed)
    // An address from the dead peer's former range is served again, by the heir.
    expect(onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'inherited', ifname: 'eth0', addresses: [inDeadRange] })).address).toBe(inDeadRange)

    const back = await cluster.spawn({ name: 'n2', dataDir: dead.dataDir, port: dead.port, env: { IPALLOC_INIT: 'consensus=3', IPALLOC_RANGE: '10.60.0.0/16', WEFT_PEERS: agents.slice(0, 2).map(a => a.addr).join(',') } })
    expect(await exitOf(back)).toBe(1)
    // The heir, or null once the removal was compacted away (the floor told it).
    expect(logEvents(back, 'removed-self').map(e => e.heir)).toSatisfy((heirs: unknown[]) => heirs.some(h => h === heirId || h === null))
  })
})
