/**
 * Scenario 2 of issue 7, VXLAN: nodes on two subnets joined by a router namespace, so node-1 has no
 * L2 neighbour among the others; the shipped manifest with WEFT_ROUTING=vxlan. Pods ping across, the
 * routed pairs and the neighbouring one alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, teardownInOrder, waitFor } from '@weft/testkit'
import { VXLAN_DEVICE } from '@weft/routes'
import { RoutedNet } from '../src/routed.ts'
import { clusterSkipReason } from '../src/cluster/scenario.ts'
import { KubeCluster } from '../src/cluster/cluster.ts'
import { makePod, routeTo, unreachablePairs } from '../src/cluster/pods.ts'
import type { Pod } from '../src/cluster/pods.ts'

const skip = await clusterSkipReason()
let net: RoutedNet | undefined
let cluster: KubeCluster | undefined
const pods: Pod[] = []

beforeAll(async () => {
  if (skip !== null) return
  await buildPlugin()
  net = await RoutedNet.create(['198.18.63', '198.18.64'])
  const hosts = [await net.add('n1', 0, 1), await net.add('n2', 1, 1), await net.add('n3', 1, 2)]
  cluster = await KubeCluster.create({ label: 'vxlan', env: { WEFT_ROUTING: 'vxlan' } })
  try {
    for (const [i, h] of hosts.entries()) await cluster.join(`node-${i + 1}`, h)
    for (const n of cluster.nodes.values()) pods.push(await makePod(n))
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await cluster.logs()}`)
  }
}, 240_000)
afterAll(async () => {
  await teardownInOrder(cluster, net)
})

describe.skipIf(skip !== null)('VXLAN between nodes on two routed subnets', () => {
  it('lets every pod ping every pod on the other nodes', async () => {
    let missing: string[] = []
    await waitFor('every pod reaching every pod across the router', async () => (missing = await unreachablePairs(pods)).length === 0, 40, 500)
      .catch(async (err: Error) => { throw new Error(`${err.message}\n${missing.join('\n')}\n${await cluster?.logs() ?? ''}`) })
    expect(missing).toEqual([])
  }, 180_000)

  it('sends pod packets between nodes through the tunnel', async () => {
    for (const [from, to] of [[1, 0], [0, 2], [2, 1]] as const) {
      expect((await routeTo(pods[from]!.node, pods[to]!.ip))?.dev, `${pods[from]!.node.name} -> ${pods[to]!.ip}`).toBe(VXLAN_DEVICE)
    }
  })
})
