/**
 * Scenario 4 of issue 7, deletion: on three nodes with direct routing, node-3 is deleted from the
 * Node list and goes away. The survivors reclaim its ranges, no route anywhere leads to it any more,
 * the heir's ranges are routed to the heir, and pods on the surviving nodes keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, waitFor } from '@weft/testkit'
import { weftRoutes } from '../src/pods.ts'
import { makePod, unreachablePairs } from '../src/cluster/pods.ts'
import type { Pod } from '../src/cluster/pods.ts'
import { holdings, lanCluster, routedToOwners, clusterSkipReason, withLogs } from '../src/cluster/scenario.ts'
import type { LanCluster } from '../src/cluster/scenario.ts'

const skip = await clusterSkipReason()
let c: LanCluster
const pods: Pod[] = []

beforeAll(async () => {
  if (skip !== null) return
  await buildPlugin()
  c = await lanCluster({ label: 'deletion', env: { WEFT_ROUTING: 'direct' } }, '198.18.66', 3)
  await withLogs(c, async () => {
    await c.cluster.ready()
    for (const n of c.nodes) pods.push(await makePod(n))
    await routedToOwners(c.nodes)
  })
}, 240_000)
afterAll(async () => {
  await c?.teardown()
})

describe.skipIf(skip !== null)('a node deleted from the Node list', () => {
  it('is reclaimed: its ranges go to the survivors, routed to the heir, and no route leads to it', async () => {
    const [one, two, gone] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]]
    expect((await holdings(one)).some((h) => h.owner === gone.name && h.size > 0n)).toBe(true)
    await c.cluster.remove(gone.name)
    const survivors = [one, two]
    await waitFor(`${gone.name}'s ranges taken over on both survivors`, async () => {
      for (const n of survivors) if ((await holdings(n)).some((h) => h.owner === gone.name && h.size > 0n)) return false
      return true
    }, 600, 250).catch(async (err: Error) => { throw new Error(`${err.message}\n${await c.cluster.logs()}`) })
    await waitFor(`no route via ${gone.host.ip} on the survivors`, async () => {
      for (const n of survivors) if ((await weftRoutes(n.host.netns)).some((r) => r.gateway === gone.host.ip)) return false
      return true
    }, 300, 200)
    await routedToOwners(survivors)
  }, 240_000)

  it('leaves the pods on the surviving nodes working', async () => {
    const left = pods.filter((p) => p.node.name !== 'node-3')
    expect(await unreachablePairs(left)).toEqual([])
  }, 60_000)
})
