/**
 * Upgrading a node: a data dir whose allocations were stored before attachments had a network
 * (schema 1: keyed by containerId/ifname alone) is migrated in place when the agent starts. A real
 * agent process, the `weft` command and the CNI plugin exec'd for GC check that nothing was lost and
 * that GC on another network cannot touch the migrated allocations.
 */
import type { AllocationInfo } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, Cluster, cniEnv, execPlugin, logEvents, rewriteAsSchema1, WEFT_CNI } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { weft } from '../src/cli.ts'

const RANGE = '10.97.0.0/16'
const ENV = { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=1' }
let cluster: Cluster
let agent: AgentProcess

/** What a node of schema 1 held: two pods on the default network and the gateway of network `neta`. */
const OLD = [
  { containerId: 'c0ffee0123456789', ifname: 'eth0', podNamespace: 'web', podName: 'front-0', allocatedAt: 1700000000000, offset: 5n },
  { containerId: 'beef', ifname: 'eth0', allocatedAt: 1700000000500, offset: 300n },
  { containerId: 'weft-gateway.neta', ifname: 'gateway', allocatedAt: 1700000000001, offset: 1n }
]

beforeAll(async () => {
  await buildPlugin()
  cluster = await Cluster.create('migration')
  // A node whose ring was made (it owns the whole range) and then stopped...
  const first = await cluster.start({ name: 'node', env: ENV })
  await first.client.prime()
  await cluster.stop(first)
  // ...and whose store holds allocations in the schema-1 layout.
  await rewriteAsSchema1(first.dataDir, RANGE, OLD)
  agent = await cluster.start({ name: 'node', dataDir: first.dataDir, port: first.port, env: ENV })
})
afterAll(async () => {
  await cluster?.teardown()
})

const allocations = async (): Promise<AllocationInfo[]> => (await agent.client.allocations()).allocations
const rows = async (): Promise<string[]> => (await allocations()).map((a) => `${a.network} ${a.containerId} ${a.ifname} ${a.address}`)

async function gc (network: string, valid: Array<{ containerID: string, ifname: string }>): Promise<void> {
  const conf = { cniVersion: '1.1.0', name: network, type: 'weft', ipam: { type: 'weft', socket: agent.socketPath }, 'cni.dev/valid-attachments': valid }
  const r = await execPlugin(WEFT_CNI, cniEnv({ command: 'GC' }), JSON.stringify(conf))
  expect(r.code, r.stdout).toBe(0)
}

describe('an agent started on a schema-1 data dir', () => {
  it('migrates every allocation to network keys, nothing lost, and says so once', async () => {
    expect(await rows()).toEqual([
      'neta :gateway gateway 10.97.0.1',
      'weft beef eth0 10.97.1.44',
      'weft c0ffee0123456789 eth0 10.97.0.5'
    ])
    expect((await allocations()).find((a) => a.containerId === 'c0ffee0123456789'))
      .toMatchObject({ podNamespace: 'web', podName: 'front-0', allocatedAt: 1700000000000 })
    expect(logEvents(agent, 'allocations-migrated')).toEqual([expect.objectContaining({ from: 1, allocations: 3, network: 'weft' })])
  })

  it('weft ps shows them with their network and pool; --json carries them', async () => {
    const r = await weft(['ps', '--socket', agent.socketPath])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^neta +default +:gateway +gateway +10\.97\.0\.1 +-$/),
      expect.stringMatching(/^weft +default +beef +eth0 +10\.97\.1\.44 +-$/),
      expect.stringMatching(/^weft +default +c0ffee012345 +eth0 +10\.97\.0\.5 +web\/front-0$/)
    ])
    const json = JSON.parse((await weft(['ps', '--json', '--socket', agent.socketPath])).stdout) as AllocationInfo[]
    expect(json.map((a) => [a.network, a.pool, a.containerId])).toEqual([['neta', 'default', ':gateway'], ['weft', 'default', 'beef'], ['weft', 'default', 'c0ffee0123456789']])
  })

  it('the core knows the migrated addresses are taken', async () => {
    const err = await agent.client.allocate({ network: 'other', containerId: 'thief', ifname: 'eth0', addresses: ['10.97.0.5'] }).then(() => null, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'address-unavailable' })
  })

  it('GC on another network keeps them; GC on weft listing them keeps them', async () => {
    const before = await rows()
    await gc('netb', [])
    expect(await rows()).toEqual(before)
    await gc('weft', [{ containerID: 'c0ffee0123456789', ifname: 'eth0' }, { containerID: 'beef', ifname: 'eth0' }])
    expect(await rows()).toEqual(before)
    // GC on weft without one of them releases that one alone; neta's gateway stays.
    await gc('weft', [{ containerID: 'c0ffee0123456789', ifname: 'eth0' }])
    expect(await rows()).toEqual(before.filter((r) => !r.includes(' beef ')))
  })

  it('a restart finds the schema-3 store as it was and migrates nothing', async () => {
    const before = await rows()
    await cluster.stop(agent)
    agent = await cluster.start({ name: 'node', dataDir: agent.dataDir, port: agent.port, env: ENV })
    expect(await rows()).toEqual(before)
    expect(logEvents(agent, 'allocations-migrated')).toEqual([])
  })
})
