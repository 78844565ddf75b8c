/**
 * A pod's ADD that runs before the node's agent (a kubelet starts pods as soon as the conflist is
 * there): the `bridge` plugin makes weft0 itself, weft IPAM fails, and the runtime's DEL takes the
 * pod's veth, leaving a bridge with no port and so an all-zero MAC. The plugin (v1.1.1) reads that MAC
 * and, once it has put the gateway address on, sets it back: the kernel refuses an empty one ("could
 * not set bridge's mac: invalid argument"), and the retried ADD, finding the address there, pins
 * nothing, so the MAC follows the ports and CHECK finds it changed. The agent's first routing pass,
 * before it serves the first ADD, pins the MAC derived from the node address on the bridge it found.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, must, namespaceSkipReason, teardownInOrder } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { Lan } from '../src/lan.ts'
import type { LanHost } from '../src/lan.ts'
import { Pods } from '../src/pods.ts'
import type { PodNode } from '../src/pods.ts'

const SUBNET = '198.18.71'
/** The bridge MAC derived from the node address 198.18.71.1. */
const DERIVED_MAC = '0a:62:c6:12:47:01'
/** CNI's "try again later": no agent to answer yet. */
const TRY_AGAIN = 11
const skipReason = await namespaceSkipReason()

describe.skipIf(skipReason !== null)('a pod bridge the plugin made before the agent', () => {
  let lan: Lan
  let cluster: Cluster
  let pods: Pods
  let host: LanHost
  let node: PodNode
  let agent: AgentProcess
  const bridge = async (): Promise<{ address: string, port: boolean }> => {
    const [link] = JSON.parse(await must(['ip', '-n', host.netns, '-json', 'link', 'show', 'dev', 'weft0'])) as Array<{ address: string }>
    const ports = await must(['ip', '-n', host.netns, '-json', 'link', 'show', 'master', 'weft0'])
    return { address: link?.address ?? '', port: ports.trim() !== '' && ports.trim() !== '[]' }
  }

  beforeAll(async () => {
    lan = await Lan.create(SUBNET)
    host = await lan.add('m', 1)
    cluster = await Cluster.create('bridge-mac')
    pods = await Pods.create()
    // The conflist names the socket the agent will serve on: the kubelet's ADD uses it from the start.
    node = { netns: host.netns, socketPath: join(cluster.dir, 'm', 'weft.sock') }
  })
  afterAll(async () => {
    await teardownInOrder(cluster, pods, lan)
  })

  it('an ADD before the agent makes weft0 and fails; the sandbox removed, the bridge has no port and no MAC', async () => {
    const early = await pods.sandbox('early')
    const add = await pods.run('ADD', node, early)
    expect(add.json?.code, add.stdout).toBe(TRY_AGAIN)
    expect((await bridge()).port).toBe(true)
    // The runtime's DEL cannot reach the agent either; removing the sandbox takes the veth.
    expect((await pods.run('DEL', node, early)).json?.code).toBe(TRY_AGAIN)
    await pods.removeSandbox(early)
    expect(await bridge()).toEqual({ address: '00:00:00:00:00:00', port: false })
  })

  it('the agent pins the bridge\'s MAC before it serves the first ADD', async () => {
    agent = await cluster.start({
      name: 'm',
      netns: host.netns,
      host: host.ip,
      env: { IPALLOC_RANGE: '10.71.0.0/16', IPALLOC_INIT: 'consensus=1', WEFT_ROUTING: 'direct', WEFT_NODE_IP: host.ip }
    })
    expect(agent.socketPath).toBe(node.socketPath)
    await agent.client.prime()
    expect((await bridge()).address).toBe(DERIVED_MAC)
  })

  it('then ADD and CHECK pass for every pod, and the MAC stays as pods come', async () => {
    const made = [await pods.add(node, 'p0'), await pods.add(node, 'p1')]
    for (const p of made) {
      const check = await pods.check(node, p)
      expect(check.code, `${p.address}: ${check.stdout}`).toBe(0)
    }
    expect(await bridge()).toEqual({ address: DERIVED_MAC, port: true })
  })
})
