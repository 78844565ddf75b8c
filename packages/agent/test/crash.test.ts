import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AllocateResponse } from '@weft/protocol'
import { Cluster, freePort, onlyAddress, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
beforeAll(async () => { cluster = await Cluster.create('crash') })
afterAll(async () => { await cluster.teardown() })

describe('kill -9 during an allocation storm', () => {
  it('keeps every acknowledged allocation and never hands an address out twice', async () => {
    const ports = [await freePort(), await freePort()]
    const env = { IPALLOC_INIT: 'consensus=2', WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(',') }
    const [a, b] = await Promise.all(['victim', 'witness'].map(async (name, i) => await cluster.start({ name, port: ports[i], env }))) as [AgentProcess, AgentProcess]

    const acked = new Map<string, AllocateResponse>()
    let next = 0
    let killed = false
    const storm = Promise.all(Array.from({ length: 32 }, async () => {
      while (!killed) {
        const id = `storm-${next++}`
        try {
          acked.set(id, await a.client.allocate({ network: 'weft', containerId: id, ifname: 'eth0' }))
        } catch {
          return // the agent died under this request: it was never acknowledged
        }
      }
    }))
    await waitFor('300 acknowledged allocations', () => acked.size >= 300, 600, 20)
    await cluster.kill(a)
    killed = true
    await storm
    const ackedCount = acked.size

    const again = await cluster.start({ name: 'victim', dataDir: a.dataDir, port: a.port, env })
    for (const [containerId, res] of acked) {
      expect(await again.client.check({ network: 'weft', containerId, ifname: 'eth0' })).toEqual(res)
    }
    // A repeated ADD for an acknowledged attachment gets the same address back.
    const [firstId, firstRes] = [...acked][0]!
    expect(await again.client.allocate({ network: 'weft', containerId: firstId, ifname: 'eth0' })).toEqual(firstRes)

    await Promise.all([again, b].map(async agent => {
      for (let i = 0; i < 200; i++) await agent.client.allocate({ network: 'weft', containerId: `after-${agent.name}-${i}`, ifname: 'eth0' })
    }))
    const lists = await Promise.all([again, b].map(async agent => (await agent.client.allocations()).allocations))
    const all = lists.flat().map(x => x.address)
    expect(new Set(all).size).toBe(all.length)
    expect(all.length).toBeGreaterThanOrEqual(ackedCount + 400)
    const onVictim = new Set(lists[0]!.map(x => x.address))
    for (const res of acked.values()) expect(onVictim.has(onlyAddress(res).address)).toBe(true)
  })
})
