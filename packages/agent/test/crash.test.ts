import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AllocateResponse } from '@weft/protocol'
import { Cluster, freePort, onlyAddress, waitFor } from '@weft/testkit'
import { FOLD_AFTER } from '../src/store-journal.ts'
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

describe('kill -9 while the allocation journal is sealed and folded', () => {
  it('keeps every acknowledged allocation, once, across kills at different points of the seal cycle', async () => {
    const env = { IPALLOC_INIT: 'consensus=1' }
    let agent = await cluster.start({ name: 'sealer', env })
    const dataDir = agent.dataDir
    const acked = new Map<string, string>()
    // One request at a time, so each answer is one journal record: the journal is sealed right after
    // the FOLD_AFTER-th answer and folded in the next milliseconds, and a kill sent at that answer
    // lands in the seal or the fold (most such kills left a sealed file when measured); the last
    // offset kills between seals. store.test.ts builds the files each step leaves, one by one.
    for (const [round, offset] of [0, 0, 1, 97].entries()) {
      if (round > 0) agent = await cluster.start({ name: 'sealer', dataDir, port: agent.port, env })
      for (let i = 0; i < FOLD_AFTER + offset; i++) {
        const id = `r${round}-${i}`
        acked.set(id, onlyAddress(await agent.client.allocate({ network: 'weft', containerId: id, ifname: 'eth0' })).address)
      }
      await cluster.kill(agent)
    }
    const again = await cluster.start({ name: 'sealer', dataDir, port: agent.port, env })
    const held = (await again.client.allocations()).allocations
    expect(held.length).toBe(acked.size)
    const byContainer = new Map(held.map(a => [a.containerId, a.address]))
    for (const [id, address] of acked) expect(byContainer.get(id), id).toBe(address)
    expect(new Set(held.map(a => a.address)).size).toBe(held.length)
  })
})
