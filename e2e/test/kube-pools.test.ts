/**
 * Issue 8's move of a live cluster to a new range, with real agents from the shipped manifest on three
 * nodes in network namespaces: pods ping across nodes in 10.32.0.0/12; a rolling update adds pool
 * `new` (172.20.0.0/16) as the default and drains the old one; new pods land in the new pool while the
 * old pods keep pinging; the old pods go, the old pool is retired, and nothing of it is left in any
 * ring, store or route table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, sleep, storeKeys, waitFor } from '@weft/testkit'
import { parseAddress, parseUniverse } from '@weft/ring'
import { agentEnv } from '../src/cluster/cluster.ts'
import { weftRoutes } from '../src/pods.ts'
import { makePod, removePod, unreachablePairs } from '../src/cluster/pods.ts'
import type { Pod } from '../src/cluster/pods.ts'
import type { Conflist } from '../src/cluster/cni-runtime.ts'
import { clusterSkipReason, lanCluster, withLogs } from '../src/cluster/scenario.ts'
import type { LanCluster } from '../src/cluster/scenario.ts'

const skip = await clusterSkipReason()
let c: LanCluster
const old: Pod[] = []
const OLD = parseUniverse('10.32.0.0/12')
const NEW = parseUniverse('172.20.0.0/16')
const MOVE = { WEFT_POOLS: JSON.stringify([{ name: 'new', range: NEW.cidr, default: true }, { name: 'default', draining: true }]) }

const inside = (u: typeof OLD, ip: string): boolean => {
  const v = parseAddress(ip).value
  return v >= u.first && v < u.first + u.size
}

beforeAll(async () => {
  if (skip !== null) return
  await buildPlugin()
  c = await lanCluster({ label: 'pools' }, '198.18.77', 3)
  await withLogs(c, async () => {
    await c.cluster.ready()
    for (const n of c.nodes) old.push(await makePod(n))
    for (let i = 0; i < 40 && (await unreachablePairs(old)).length > 0; i++) await sleep(500)
  })
}, 240_000)
afterAll(async () => {
  await c?.teardown()
})

describe.skipIf(skip !== null)('moving a live cluster from 10.32.0.0/12 to 172.20.0.0/16', () => {
  it('1. pods run and ping across nodes in 10.32.0.0/12', async () => {
    expect(old.every(p => inside(OLD, p.ip)), old.map(p => p.ip).join(', ')).toBe(true)
    expect(await unreachablePairs(old)).toEqual([])
  }, 60_000)

  it('2-3. a rolling update adds the new pool and drains the old: new pods land in 172.20.0.0/16, the old pods keep pinging', async () => {
    await withLogs(c, async () => { await c.cluster.rollOut(MOVE) })
    for (const n of c.nodes) {
      const st = await n.client.status()
      expect(st.pools.map(p => [p.pool, p.range, p.draining, p.default])).toEqual([['default', OLD.cidr, true, false], ['new', NEW.cidr, false, true]])
    }
    // The bridge plugin keeps one gateway per family on a bridge: the new range's pods get a bridge of their own.
    const onNewBridge = async (n: (typeof c.nodes)[number]): Promise<Conflist> => {
      const list = await n.conflist()
      return { ...list, plugins: list.plugins.map(p => p.type === 'bridge' ? { ...p, bridge: 'weft1' } : p) }
    }
    const fresh = await Promise.all(c.nodes.map(async n => await makePod(n, await onNewBridge(n))))
    expect(fresh.every(p => inside(NEW, p.ip)), fresh.map(p => p.ip).join(', ')).toBe(true)
    let missing: string[] = []
    await waitFor('the old pods to reach each other after the rolling update', async () => (missing = await unreachablePairs(old)).length === 0, 40, 500)
      .catch((err: Error) => { throw new Error(`${err.message}\n${missing.join('\n')}`) })
    // The old pool still shows who holds its addresses.
    const holders = (await Promise.all(c.nodes.map(async n => (await n.client.allocations()).allocations))).flat()
      .filter(a => a.pool === 'default' && a.containerId !== ':gateway')
    expect(holders.map(a => a.address).sort()).toEqual(old.map(p => p.ip).sort())
    for (const p of fresh) await removePod(p)
  }, 240_000)

  it('4. once the old pods are gone, the old pool is retired and nothing of it is left in any ring, store or route table', async () => {
    const refused = await c.nodes[0]!.client.retirePool({ pool: 'default' }).then(() => null, (e: Error) => e)
    expect(refused?.message).toMatch(/cannot be retired: .*holds/)
    for (const p of old) await removePod(p)
    expect(await c.nodes[0]!.client.retirePool({ pool: 'default' })).toEqual({ pool: 'default', agents: 3 })
    for (const n of c.nodes) {
      await waitFor(`${n.name} to drop the old pool`, async () => !(await n.client.status()).pools.some(p => p.pool === 'default'), 100, 100)
      expect((await n.client.allocations()).allocations.filter(a => a.pool === 'default')).toEqual([])
      let left: string[] = []
      await waitFor(`${n.name}'s routes into the old range to go`, async () =>
        (left = (await weftRoutes(n.host.netns)).map(r => r.dst).filter(dst => inside(OLD, dst.split('/')[0]!))).length === 0, 100, 100)
        .catch((err: Error) => { throw new Error(`${err.message}: ${left.join(', ')}`) })
    }
    // The store: stopped, every key of the old pool is gone and it is recorded as retired.
    const last = c.nodes[2]!
    await last.stopAgent()
    const keys = await storeKeys(last.hostPath(agentEnv(c.cluster.manifest, 'WEFT_DATA_DIR', '/var/lib/weft')))
    expect(keys.filter(k => k === 'ring' || /^(alloc|attach|acceptor):/.test(k))).toEqual([])
    expect(keys).toContain('meta:retired')
    expect(keys.some(k => k.startsWith('pool/new/'))).toBe(true)
  }, 180_000)
})
