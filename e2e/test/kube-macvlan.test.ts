/**
 * Scenario 6 of issue 7, macvlan: weft as the IPAM of a Multus-style secondary network. The shipped
 * manifest with WEFT_ROUTING=none on two nodes; pods get a `net1` macvlan interface on the nodes' LAN
 * from a network config with `ipam: weft` (what a NetworkAttachmentDefinition holds), run by the
 * node's runtime from the node's /opt/cni/bin. Pods on different nodes ping each other over the LAN
 * itself, and weft programs no route for them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, waitFor } from '@weft/testkit'
import { agentEnv } from '../src/cluster/cluster.ts'
import type { Conflist } from '../src/cluster/cni-runtime.ts'
import { weftRoutes } from '../src/pods.ts'
import { makePod, unreachablePairs } from '../src/cluster/pods.ts'
import type { Pod } from '../src/cluster/pods.ts'
import { lanCluster, clusterSkipReason, withLogs } from '../src/cluster/scenario.ts'
import type { LanCluster } from '../src/cluster/scenario.ts'

const skip = await clusterSkipReason()
let c: LanCluster
const pods: Pod[] = []

beforeAll(async () => {
  if (skip !== null) return
  await buildPlugin()
  c = await lanCluster({ label: 'macvlan', env: { WEFT_ROUTING: 'none' } }, '198.18.68', 2)
  const macvlan: Conflist = {
    cniVersion: '1.0.0',
    name: 'lan',
    plugins: [{ type: 'macvlan', master: 'eth0', mode: 'bridge', ipam: { type: 'weft', socket: agentEnv(c.cluster.manifest, 'WEFT_SOCKET', '/run/weft/weft.sock') } }]
  }
  await withLogs(c, async () => {
    await c.cluster.ready()
    for (const n of c.nodes) for (let i = 0; i < 2; i++) pods.push(await makePod(n, macvlan, 'net1'))
  })
}, 240_000)
afterAll(async () => {
  await c?.teardown()
})

describe.skipIf(skip !== null)('a macvlan secondary network with weft IPAM and routing none', () => {
  it('gives pods distinct addresses from the range that ping across nodes', async () => {
    expect(new Set(pods.map((p) => p.ip)).size).toBe(pods.length)
    let missing: string[] = []
    await waitFor('every macvlan pod reaching the pods of the other node', async () => (missing = await unreachablePairs(pods)).length === 0, 40, 500)
      .catch((err: Error) => { throw new Error(`${err.message}\n${missing.join('\n')}`) })
  }, 180_000)

  it('programs no route on the nodes', async () => {
    for (const n of c.nodes) expect(await weftRoutes(n.host.netns), n.name).toEqual([])
  })
})
