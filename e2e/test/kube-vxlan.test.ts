/**
 * Scenario 2 of issue 7, VXLAN: nodes on two subnets joined by a router namespace, so node-1 has no
 * L2 neighbour among the others; the shipped manifest with WEFT_ROUTING=vxlan. Pods ping across, the
 * routed pairs and the neighbouring one alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../packages/agent/test/harness.ts'
import { Lan } from '../src/lan.ts'
import { addNetns, delNetns, inNetns, must, uniqueName } from '../src/netns.ts'
import { buildPlugin } from '../src/plugin.ts'
import { clusterSkipReason } from '../src/cluster/scenario.ts'
import { KubeCluster } from '../src/cluster/cluster.ts'
import type { KubeNode } from '../src/cluster/cluster.ts'
import { makePod, unreachablePairs } from '../src/cluster/pods.ts'
import type { Pod } from '../src/cluster/pods.ts'

const skip = await clusterSkipReason()
const lans: Lan[] = []
const router = uniqueName('rt')
let cluster: KubeCluster | undefined
const pods: Pod[] = []

beforeAll(async () => {
  if (skip !== null) return
  await buildPlugin()
  const a = await Lan.create('198.18.63')
  lans.push(a)
  const b = await Lan.create('198.18.64')
  lans.push(b)
  await addNetns(router)
  await a.attach(router, 'rt', 254, 'eth0')
  await b.attach(router, 'rt', 254, 'eth1')
  await must(inNetns(router, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']))
  const hosts = [await a.add('n1', 1), await b.add('n2', 1), await b.add('n3', 2)]
  // Each node's default gateway is the router, as on any routed network.
  for (const [i, h] of hosts.entries()) await must(['ip', '-n', h.netns, 'route', 'add', 'default', 'via', `198.18.${i === 0 ? 63 : 64}.254`])
  cluster = await KubeCluster.create({ label: 'vxlan', env: { WEFT_ROUTING: 'vxlan' } })
  const nodes: KubeNode[] = []
  for (const [i, h] of hosts.entries()) nodes.push(await cluster.join(`node-${i + 1}`, h))
  try {
    for (const n of nodes) pods.push(await makePod(n))
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await cluster.logs()}`)
  }
}, 240_000)
afterAll(async () => {
  await cluster?.teardown()
  await delNetns(router)
  for (const l of lans) await l.teardown()
})

describe.skipIf(skip !== null)('VXLAN between nodes on two routed subnets', () => {
  it('lets every pod ping every pod on the other nodes', async () => {
    let missing: string[] = []
    await waitFor('every pod reaching every pod across the router', async () => (missing = await unreachablePairs(pods)).length === 0, 40, 500)
      .catch(async (err: Error) => { throw new Error(`${err.message}\n${missing.join('\n')}\n${await cluster?.logs() ?? ''}`) })
    expect(missing).toEqual([])
  }, 180_000)

  it('sends pod packets to node-1 through a tunnel, not by a next hop it cannot reach on its link', async () => {
    const routes = JSON.parse(await must(pods[1]!.node.root.enter(['ip', '-json', 'route', 'get', pods[0]!.ip]))) as Array<{ dev?: string, gateway?: string }>
    expect(routes[0]?.dev).not.toBe('eth0')
  })
})
