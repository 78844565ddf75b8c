/**
 * A pod's metadata travels with its allocation request through the core into the batch that stores
 * the allocation. So an ADD that the plugin gave up on (its deadline passed while the ring waited
 * for a quorum) still leaves the pod's name when the core allocates later, and concurrent ADDs of
 * one attachment leave one address and one record. Real agents, the real plugin exec'd, `weft ps`.
 */
import type { AllocationInfo } from '@weft/protocol'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { buildPlugin, Cluster, cniEnv, execPlugin, freePort, resultAddress, waitFor, WEFT_CNI } from '@weft/testkit'
import type { AgentProcess, PluginRun } from '@weft/testkit'
import { weft } from '../src/cli.ts'

const RANGE = '10.96.0.0/16'
let cluster: Cluster
let first: AgentProcess
let ports: [number, number]

beforeAll(async () => { await buildPlugin() })
beforeEach(async () => {
  cluster = await Cluster.create('pod-meta')
  ports = [await freePort(), await freePort()]
  // Alone, it waits for the second of a quorum of two: every ADD waits in the core.
  first = await cluster.start({ name: 'first', port: ports[0], env: env() })
})
afterEach(async () => {
  await cluster?.teardown()
})

function env (): Record<string, string> {
  return { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=2', WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(',') }
}

/** The quorum's second agent: the ring is decided and the waiting ADDs are served. */
async function completeQuorum (): Promise<void> {
  await cluster.start({ name: 'second', port: ports[1], env: env() })
}

/** ADD of container `id`'s eth0 for pod ns/`pod`, the plugin waiting at most `timeoutMs`. */
async function add (id: string, pod: string, timeoutMs: number): Promise<PluginRun> {
  const conf = { cniVersion: '1.1.0', name: 'e2e', type: 'weft', ipam: { type: 'weft', socket: first.socketPath } }
  const call = { command: 'ADD', containerId: id, ifname: 'eth0', netns: '/var/run/netns/none', args: `K8S_POD_NAMESPACE=ns;K8S_POD_NAME=${pod}` }
  return await execPlugin(WEFT_CNI, { ...cniEnv(call), WEFT_CNI_TIMEOUT_MS: String(timeoutMs) }, JSON.stringify(conf))
}

const recordsOf = async (id: string): Promise<AllocationInfo[]> =>
  (await first.client.allocations()).allocations.filter(a => a.containerId === id)

describe('pod metadata through the core', () => {
  it('an allocation made after the ADD\'s deadline still holds the pod\'s name, and weft ps shows it', async () => {
    const late = await add('late0', 'web-0', 1_000)
    // The plugin gave up: retryable, nothing allocated yet.
    expect(late.code, late.stdout).not.toBe(0)
    expect(late.json).toMatchObject({ code: 11 })
    expect(await recordsOf('late0')).toEqual([])
    await completeQuorum()
    await waitFor('the late allocation', async () => (await recordsOf('late0')).length > 0)
    const [record] = await recordsOf('late0')
    expect(record).toMatchObject({ network: 'e2e', ifname: 'eth0', podNamespace: 'ns', podName: 'web-0' })
    const ps = await weft(['ps', '--socket', first.socketPath])
    expect(ps.code, ps.stderr).toBe(0)
    expect(ps.stdout).toMatch(new RegExp(`^e2e +default +late0 +eth0 +${record!.address.replace(/\./g, '\\.')} +ns/web-0$`, 'm'))
  })

  it('two concurrent ADDs of one attachment, one given up on: one address, one record with the pod\'s metadata', async () => {
    // The first waits in the core past its deadline; the retry comes while it is still waiting.
    const gaveUp = add('twin0', 'web-1', 1_000)
    const retried = add('twin0', 'web-1', 60_000)
    expect((await gaveUp).code).not.toBe(0)
    await completeQuorum()
    const r = await retried
    expect(r.code, r.stdout).toBe(0)
    const records = await recordsOf('twin0')
    expect(records).toEqual([expect.objectContaining({ address: resultAddress(r.json)?.split('/')[0], podNamespace: 'ns', podName: 'web-1' })])
  })

  it('two concurrent ADDs of one attachment, both answered: the same address, one record', async () => {
    const both = [add('twin1', 'web-2', 60_000), add('twin1', 'web-2', 60_000)]
    await completeQuorum()
    const runs = await Promise.all(both)
    for (const r of runs) expect(r.code, r.stdout).toBe(0)
    const addresses = runs.map(r => resultAddress(r.json))
    expect(addresses[0]).toBeDefined()
    expect(addresses[1]).toBe(addresses[0])
    expect(await recordsOf('twin1')).toEqual([expect.objectContaining({ address: addresses[0]?.split('/')[0], podNamespace: 'ns', podName: 'web-2' })])
  })
})
