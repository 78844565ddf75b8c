/**
 * Scenario 1 of issue 7, direct routing: three nodes on one LAN, the shipped manifest with
 * WEFT_ROUTING=direct set on the DaemonSet. Every pod pings every pod on the other nodes, a TCP
 * connection crosses nodes, each node's host reaches every pod, and no pod holds an address of a
 * node (its LAN address or its bridge's gateway). Prints the time from the last agent's start to
 * every pod reaching every other pod.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, waitFor } from '@weft/testkit'
import { hostAddresses, makePod, pings, removePod, tcpCrosses, unreachablePairs } from '../src/cluster/pods.ts'
import type { Pod } from '../src/cluster/pods.ts'
import { lanCluster, routedToOwners, clusterSkipReason, withLogs } from '../src/cluster/scenario.ts'
import type { LanCluster } from '../src/cluster/scenario.ts'

const skip = await clusterSkipReason()
let c: LanCluster
const pods: Pod[] = []
let reachedAllMs = 0

beforeAll(async () => {
  if (skip !== null) return
  await buildPlugin()
  c = await lanCluster({ label: 'direct', env: { WEFT_ROUTING: 'direct' } }, '198.18.62', 3)
  await withLogs(c, async () => {
    // Two pods per node, made as the kubelet would once the node's network is up (ADD waits for the agent).
    for (const n of c.nodes) for (let i = 0; i < 2; i++) pods.push(await makePod(n))
    let missing: string[] = []
    await waitFor('every pod reaching every pod on the other nodes', async () => (missing = await unreachablePairs(pods)).length === 0, 40, 500)
      .catch((err: Error) => { throw new Error(`${err.message}\n${missing.join('\n')}`) })
    reachedAllMs = performance.now() - c.lastStart
    console.log(`figure: 3 nodes, ${pods.length} pods: every pod reached every other pod ${(reachedAllMs / 1000).toFixed(1)} s after the last agent started`)
  })
}, 240_000)
afterAll(async () => {
  await c?.teardown()
})

describe.skipIf(skip !== null)('direct routing on three nodes of one LAN', () => {
  it('gets every pod an address and routes every range to its owner on every node', async () => {
    expect(new Set(pods.map((p) => p.ip)).size).toBe(pods.length)
    await routedToOwners(c.nodes)
  })

  it('carries a TCP connection between pods on different nodes', async () => {
    expect(await tcpCrosses(pods[0]!, pods[2]!)).toBe(true)
    expect(await tcpCrosses(pods[5]!, pods[1]!)).toBe(true)
  })

  it('lets each node\'s host reach every pod', async () => {
    const misses: string[] = []
    for (const n of c.nodes) for (const p of pods) if (!await pings(n, p.ip)) misses.push(`${n.name} -> ${p.node.name}/${p.ip}`)
    expect(misses).toEqual([])
  })

  it('releases a pod\'s address on a DEL of the chain', async () => {
    const last = pods.pop()!
    await removePod(last)
    expect((await last.node.client.allocations()).allocations.map((a) => a.address)).not.toContain(last.ip)
  })

  // The pods' first ADDs may run before the agents (the bridge plugin then makes weft0 itself): CHECK
  // passes only if the agent pinned the bridge's MAC before the first ADD that succeeded.
  it('passes CHECK of the installed chain for every pod', async () => {
    for (const p of pods) {
      const runs = await p.node.runtime.check(p.attachment)
      expect(runs.map((r) => r.code), `${p.node.name}/${p.ip}: ${runs.map((r) => r.stdout).join(' ')}`).toEqual(runs.map(() => 0))
    }
  })

  it('undoes a failed ADD with a DEL of the chain: the address the first plugin took is given back', async () => {
    const node = c.nodes[0]!
    const installed = await node.conflist()
    const failing = { ...installed, plugins: [...installed.plugins, { type: 'tuning', sysctl: { 'net.weft.no-such-sysctl': '1' } }] }
    const before = (await node.client.allocations()).allocations.length
    await expect(makePod(node, failing, 'eth0', 1)).rejects.toThrow(/tuning/)
    expect((await node.client.allocations()).allocations.length).toBe(before)
  })

  it('gives no pod an address a node holds', async () => {
    const held = new Set((await Promise.all(c.nodes.map(hostAddresses))).flat())
    expect(held.size).toBeGreaterThan(c.nodes.length)
    expect(pods.filter((p) => held.has(p.ip)).map((p) => `${p.node.name}/${p.ip}`)).toEqual([])
  })
})
