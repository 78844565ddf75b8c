/**
 * The plugin against three real agents (consensus=3 on loopback): pods on every node get distinct
 * addresses, and an ADD the plugin acknowledged survives kill -9 of its agent (the runtime retrying
 * the ones that failed gets them, still without a duplicate anywhere).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, Cluster, cniEnv, execPlugin, inParallel, resultAddress, waitForSocket, WEFT_CNI } from '@weft/testkit'
import type { AgentProcess, PluginRun } from '@weft/testkit'

const RANGE = '10.99.0.0/16'
const env = { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=3' }
let cluster: Cluster
let nodes: AgentProcess[]

beforeAll(async () => {
  await buildPlugin()
  cluster = await Cluster.create('cni-cluster')
  const first = await cluster.spawn({ name: 'node-1', env })
  const second = await cluster.spawn({ name: 'node-2', env: { ...env, WEFT_PEERS: first.addr } })
  const third = await cluster.spawn({ name: 'node-3', env: { ...env, WEFT_PEERS: `${first.addr},${second.addr}` } })
  nodes = [first, second, third]
  await Promise.all(nodes.map(async (n) => await waitForSocket(n)))
  await Promise.all(nodes.map(async (n) => await n.client.prime()))
})
afterAll(async () => {
  await cluster?.teardown()
})

const conf = (n: AgentProcess): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'cluster', type: 'weft', ipam: { type: 'weft', socket: n.socketPath } })
const add = async (n: AgentProcess, id: string): Promise<PluginRun> =>
  await execPlugin(WEFT_CNI, cniEnv({ command: 'ADD', containerId: id, ifname: 'eth0', netns: `/var/run/netns/${id}` }), conf(n))

describe('three agents behind the plugin', () => {
  it('give pods on every node distinct addresses', async () => {
    const runs = await inParallel(30, 6, async (i) => await add(nodes[i % 3]!, `spread-${i}`))
    expect(runs.map((r) => r.code)).toEqual(runs.map(() => 0))
    const addresses = runs.map((r) => resultAddress(r.json))
    expect(new Set(addresses).size).toBe(30)
  })

  it('keep every acknowledged ADD across kill -9 of an agent, and never hand an address out twice', async () => {
    const victim = nodes[1]!
    const ids = Array.from({ length: 40 }, (_, i) => `storm-${i}`)
    let succeeded = 0
    let restarted: Promise<AgentProcess> | undefined
    const runs = await inParallel(ids.length, 4, async (i) => {
      const r = await add(victim, ids[i]!)
      if (r.code === 0 && ++succeeded === 10) {
        await cluster.kill(victim)
        // Restarted at once, as a DaemonSet does: the ADDs in flight wait for it (the plugin's bound is 10 s).
        restarted = cluster.start({ name: victim.name, env: { ...env, WEFT_PEERS: nodes[0]!.addr }, dataDir: victim.dataDir, port: victim.port })
      }
      return r
    })
    const acked = new Map(ids.flatMap((id, i) => runs[i]?.code === 0 ? [[id, resultAddress(runs[i]?.json)] as const] : []))
    expect(acked.size).toBeGreaterThanOrEqual(10)
    expect(runs.filter((r) => r.code !== 0 && r.json?.code !== 11).map((r) => r.stdout)).toEqual([])

    if (restarted === undefined) throw new Error('the victim was never killed: fewer than 10 ADDs succeeded')
    const back = await restarted
    nodes[1] = back
    await back.client.prime()
    const held = new Map((await back.client.allocations()).allocations.map((a) => [a.containerId, a.address]))
    for (const [id, cidr] of acked) expect(held.get(id), id).toBe(cidr?.split('/')[0])

    // The runtime retries the ADDs that failed: same attachment, so the same address if the agent had it.
    for (const [i, id] of ids.entries()) {
      if (runs[i]?.code === 0) continue
      const r = await add(back, id)
      expect(r.code, r.stdout).toBe(0)
      if (held.has(id)) expect(resultAddress(r.json)?.split('/')[0]).toBe(held.get(id))
    }
    const everywhere = (await Promise.all(nodes.map(async (n) => (await n.client.allocations()).allocations))).flat()
    // Besides the pods, each node holds its gateway of the network.
    expect(everywhere.filter((a) => a.containerId === ':gateway').map((a) => a.network)).toEqual(['cluster', 'cluster', 'cluster'])
    expect(everywhere.filter((a) => a.containerId !== ':gateway')).toHaveLength(30 + 40)
    expect(new Set(everywhere.map((a) => a.address)).size).toBe(everywhere.length)
  })
})
