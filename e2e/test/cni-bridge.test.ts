/**
 * The real `bridge` plugin delegating IPAM to weft, as a runtime on a node would run it. The "node" is
 * a network namespace this test makes (so the bridge and its routes never touch the host), the pods
 * are namespaces too; all are removed in afterAll.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AllocationInfo } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addNetns, buildPlugin, Cluster, cniEnv, delNetns, execPlugin, inNetns, must, namespaceSkipReason, resultAddress, run, SYSTEM_CNI_DIR, uniqueName, WEFT_CNI, which } from '@weft/testkit'
import type { AgentProcess, PluginRun } from '@weft/testkit'

const skipReason = await namespaceSkipReason()
if (skipReason !== null) console.warn(`cni-bridge: skipped: ${skipReason}`)

describe.skipIf(skipReason !== null)('bridge + weft in network namespaces', () => {
  const node = uniqueName('node')
  const pods = { a: uniqueName('poda'), b: uniqueName('podb') }
  const made: string[] = []
  let cluster: Cluster
  let agent: AgentProcess
  let pluginDir: string
  let ip: string

  beforeAll(async () => {
    ip = await which('ip') ?? 'ip'
    await buildPlugin()
    pluginDir = await mkdtemp(join(tmpdir(), 'weft-cni-bin-'))
    await symlink(WEFT_CNI, join(pluginDir, 'weft'))
    cluster = await Cluster.create('cni-bridge')
    agent = await cluster.start({ name: 'node1', env: { IPALLOC_RANGE: '10.99.0.0/16', IPALLOC_INIT: 'consensus=1' } })
    await agent.client.prime()
    for (const ns of [node, pods.a, pods.b]) {
      await addNetns(ns)
      made.push(ns)
    }
    await must(inNetns(node, ['ip', 'link', 'set', 'lo', 'up']))
  })

  afterAll(async () => {
    // Deleting the node namespace takes the bridge and the host ends of the veths with it.
    for (const ns of made) await delNetns(ns)
    await cluster?.teardown()
    if (pluginDir !== undefined) await rm(pluginDir, { recursive: true, force: true })
  })

  const conf = (): Record<string, unknown> => ({
    cniVersion: '1.0.0',
    name: 'weft-e2e',
    type: 'bridge',
    bridge: 'weft0',
    isGateway: true,
    ipMasq: false,
    ipam: { type: 'weft', socket: agent.socketPath, routes: [{ dst: '0.0.0.0/0' }] }
  })
  const cniPath = (): string => `${SYSTEM_CNI_DIR}:${pluginDir}`

  /** The bridge plugin run inside the node namespace, with the env a runtime gives it. */
  async function bridge (command: string, pod: string, netconf: Record<string, unknown> = conf()): Promise<PluginRun> {
    const env = cniEnv({ command, containerId: `ctr-${pod}`, ifname: 'eth0', netns: `/var/run/netns/${pod}`, path: cniPath() })
    return await execPlugin([ip, 'netns', 'exec', node, join(SYSTEM_CNI_DIR, 'bridge')], env, JSON.stringify(netconf))
  }
  /** weft itself, run as a 1.1 bridge would delegate GC and STATUS (Debian's bridge speaks up to 1.0.0). */
  async function weft (command: string, extra: Record<string, unknown>): Promise<PluginRun> {
    const env = cniEnv({ command, path: cniPath() })
    return await execPlugin([ip, 'netns', 'exec', node, WEFT_CNI], env, JSON.stringify({ ...conf(), cniVersion: '1.1.0', ...extra }))
  }
  const allocations = async (): Promise<AllocationInfo[]> => (await agent.client.allocations()).allocations
  /** What the agent holds for the network's gateway on this node, and for pods. */
  const held = async (): Promise<{ gateway: string | undefined, pods: string[] }> => {
    const all = await allocations()
    return {
      gateway: all.find((a) => a.containerId === ':gateway' && a.network === 'weft-e2e')?.address,
      pods: all.filter((a) => a.containerId !== ':gateway').map((a) => a.containerId).sort()
    }
  }
  let gateway: string

  const results: Record<string, Record<string, unknown>> = {}

  it('ADD gives two pods distinct addresses, and the bridge the gateway the agent reserved, which no pod has', async () => {
    for (const pod of [pods.a, pods.b]) {
      const r = await bridge('ADD', pod)
      expect(r.code, r.stdout + r.stderr).toBe(0)
      results[pod] = r.json ?? {}
    }
    const a = resultAddress(results[pods.a])
    const b = resultAddress(results[pods.b])
    expect(a).toMatch(/^10\.99\.\d+\.\d+\/16$/)
    expect(b).toMatch(/^10\.99\.\d+\.\d+\/16$/)
    expect(a).not.toBe(b)
    gateway = (await held()).gateway ?? ''
    expect(gateway).toMatch(/^10\.99\.\d+\.\d+$/)
    for (const pod of [pods.a, pods.b]) {
      expect(resultAddress(results[pod])).not.toBe(`${gateway}/16`)
      expect(results[pod]?.ips).toEqual([expect.objectContaining({ gateway })])
      const shown = await must(inNetns(pod, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']))
      expect(shown).toContain(`inet ${resultAddress(results[pod])}`)
      expect(await must(inNetns(pod, ['ip', '-4', 'route', 'show', 'default']))).toContain(`via ${gateway} `)
    }
    // The bridge's only address is the reserved gateway (not the range's first address, which a pod may hold).
    const bridgeAddr = await must(inNetns(node, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'weft0']))
    expect([...bridgeAddr.matchAll(/inet (\S+)/g)].map((m) => m[1])).toEqual([`${gateway}/16`])
  })

  it('the pods ping each other and their gateway', async () => {
    const target = (pod: string): string => (resultAddress(results[pod]) ?? '').split('/')[0] ?? ''
    const ping = async (from: string, to: string): Promise<boolean> => {
      for (let i = 0; i < 5; i++) {
        if ((await run(inNetns(from, ['ping', '-c1', '-W1', to]))).code === 0) return true
      }
      return false
    }
    expect(await ping(pods.a, target(pods.b))).toBe(true)
    expect(await ping(pods.b, target(pods.a))).toBe(true)
    expect(await ping(pods.a, gateway)).toBe(true)
  })

  it('CHECK passes after ADD', async () => {
    const r = await bridge('CHECK', pods.a, { ...conf(), prevResult: results[pods.a] })
    expect(r.code, r.stdout + r.stderr).toBe(0)
  })

  it('GC releases exactly the attachments not listed, and keeps the gateway', async () => {
    expect(await held()).toEqual({ gateway, pods: [`ctr-${pods.a}`, `ctr-${pods.b}`].sort() })
    const r = await weft('GC', { 'cni.dev/valid-attachments': [{ containerID: `ctr-${pods.a}`, ifname: 'eth0' }] })
    expect(r.code, r.stdout).toBe(0)
    expect(await held()).toEqual({ gateway, pods: [`ctr-${pods.a}`] })
  })

  it('DEL releases, is idempotent, and CHECK fails afterwards', async () => {
    for (const pod of [pods.b, pods.a, pods.a]) {
      const r = await bridge('DEL', pod)
      expect(r.code, r.stdout + r.stderr).toBe(0)
    }
    expect(await held()).toEqual({ gateway, pods: [] })
    const r = await bridge('CHECK', pods.a, { ...conf(), prevResult: results[pods.a] })
    expect(r.code).not.toBe(0)
  })

  it('a pod added after every DEL gets another address, and the bridge keeps the same gateway', async () => {
    const r = await bridge('ADD', pods.b)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(resultAddress(r.json)).not.toBe(`${gateway}/16`)
    expect(r.json?.ips).toEqual([expect.objectContaining({ gateway })])
    const bridgeAddr = await must(inNetns(node, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'weft0']))
    expect([...bridgeAddr.matchAll(/inet (\S+)/g)].map((m) => m[1])).toEqual([`${gateway}/16`])
    expect((await bridge('DEL', pods.b)).code).toBe(0)
  })

  it('STATUS is 0 with the agent up and 50 with it stopped', async () => {
    expect((await weft('STATUS', {})).code).toBe(0)
    await cluster.stop(agent)
    const r = await weft('STATUS', {})
    expect(r.json).toMatchObject({ code: 50 })
  })
})
