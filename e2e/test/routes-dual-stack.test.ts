/**
 * Routing both families between real agents whose IPALLOC_RANGE has an IPv4 and an IPv6 CIDR, with
 * dual-stack pods made by the real bridge plugin: over a VXLAN tunnel between IPv4-only nodes on two
 * subnets (IPv6 pods go via the peers' tunnel link-local addresses), and directly between dual-stack
 * nodes on one LAN (each family via the peers' node address of that family). Every pod pings every
 * pod on the other node in both families.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, inParallel, must, namespaceSkipReason, teardownInOrder, waitFor } from '@weft/testkit'
import { linkLocalOf, VXLAN_DEVICE, vtepMac, WEFT_PROTO } from '@weft/routes'
import { Lan } from '../src/lan.ts'
import type { LanHost } from '../src/lan.ts'
import { pings, Pods } from '../src/pods.ts'
import type { Pod } from '../src/pods.ts'
import { RoutedNet } from '../src/routed.ts'

const skipReason = await namespaceSkipReason()
const PORT = 6783

interface Node { readonly name: string, readonly host: LanHost, readonly pods: Pod[] }

/** weft's routes of one family on a node. */
async function routesOf (netns: string, family: 4 | 6): Promise<Array<{ dst: string, gateway?: string, dev?: string }>> {
  const out = await must(['ip', '-n', netns, `-${family}`, '-json', 'route', 'show', 'proto', String(WEFT_PROTO)])
  return out.trim() === '' ? [] : JSON.parse(out) as Array<{ dst: string, gateway?: string, dev?: string }>
}

/** Every pod on one node pings every pod on the others at each of its addresses; the failures, named. */
async function crossPings (nodes: readonly Node[]): Promise<string[]> {
  const pairs = nodes.flatMap(f => nodes.filter(t => t !== f).flatMap(t =>
    f.pods.flatMap(p => t.pods.flatMap(q => q.addresses.map(to => ({ from: p, to, label: `${f.name}:${p.address} -> ${t.name}:${to}` }))))))
  const ok = await inParallel(pairs.length, 4, async i => await pings(pairs[i]!.from.netns, pairs[i]!.to))
  return pairs.filter((_, i) => !ok[i]).map(p => p.label)
}

describe.skipIf(skipReason !== null)('dual-stack pods over a VXLAN tunnel between IPv4 nodes on two subnets', () => {
  const PREFIXES = ['198.18.73', '198.18.74'] as const
  const RANGE = '10.73.0.0/16,fd00:73::/104'
  let net: RoutedNet
  let cluster: Cluster
  let pods: Pods
  const nodes: Node[] = []

  beforeAll(async () => {
    net = await RoutedNet.create(PREFIXES)
    cluster = await Cluster.create('routes-dual-vxlan')
    pods = await Pods.create()
    const layout = [['a', 0, 1], ['c', 1, 3]] as const
    const peers = layout.map(([, side, n]) => `/ip4/${PREFIXES[side]}.${n}/tcp/${PORT}`).join(',')
    const agents = await Promise.all(layout.map(async ([name, side, n]) => {
      const host = await net.add(name, side, n)
      nodes.push({ name, host, pods: [] })
      const env = { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=2', WEFT_PEERS: peers, WEFT_ROUTING: 'vxlan', WEFT_NODE_IP: host.ip, WEFT_ROUTE_INTERVAL_MS: '1000' }
      return { name, agent: await cluster.start({ name, netns: host.netns, host: host.ip, port: PORT, env }) }
    }))
    await agents[0]!.agent.client.prime()
    await waitFor('both families tunnelled on both nodes', async () => (await Promise.all(nodes.map(async n =>
      (await routesOf(n.host.netns, 4)).length > 0 && (await routesOf(n.host.netns, 6)).length > 0))).every(Boolean))
    for (const n of nodes) {
      const agent = agents.find(a => a.name === n.name)!.agent
      for (let i = 0; i < 2; i++) n.pods.push(await pods.add({ netns: n.host.netns, socketPath: agent.socketPath, mtu: 1450 }, `${n.name}d${i}`))
    }
  })
  afterAll(async () => {
    await teardownInOrder(cluster, pods, net)
  })

  it('gives every pod an IPv4 and an IPv6 address', () => {
    for (const n of nodes) {
      for (const p of n.pods) expect(p.addresses.map(a => a.includes(':'))).toEqual([false, true])
    }
  })

  it('routes IPv6 over the IPv4 tunnel via the peer\'s link-local tunnel end, a permanent neighbour of its MAC', async () => {
    const [a, c] = nodes as [Node, Node]
    const next = linkLocalOf(vtepMac(c.host.ip))
    const v6 = await routesOf(a.host.netns, 6)
    expect(v6.every(r => r.dev === VXLAN_DEVICE && r.gateway === next)).toBe(true)
    const neigh = JSON.parse(await must(['ip', '-n', a.host.netns, '-json', 'neigh', 'show', 'dev', VXLAN_DEVICE])) as Array<{ dst: string, lladdr?: string }>
    expect(neigh).toContainEqual(expect.objectContaining({ dst: next, lladdr: vtepMac(c.host.ip) }))
  })

  it('lets every pod ping every pod on the other node, in both families', async () => {
    expect(await crossPings(nodes)).toEqual([])
  })
})

describe.skipIf(skipReason !== null)('dual-stack pods routed directly between dual-stack nodes on one LAN', () => {
  const SUBNET = '198.18.75'
  const V6 = (n: number): string => `2001:db8:75::${n}`
  const RANGE = '10.75.0.0/16,fd00:75::/104'
  let lan: Lan
  let cluster: Cluster
  let pods: Pods
  const nodes: Node[] = []

  beforeAll(async () => {
    lan = await Lan.create(SUBNET)
    cluster = await Cluster.create('routes-dual-direct')
    pods = await Pods.create()
    const peers = [1, 2].map(n => `/ip4/${SUBNET}.${n}/tcp/${PORT}`).join(',')
    const agents = []
    for (const [name, n] of [['a', 1], ['b', 2]] as const) {
      const host = await lan.add(name, n)
      await must(['ip', '-n', host.netns, 'addr', 'add', `${V6(n)}/64`, 'dev', 'eth0', 'nodad'])
      nodes.push({ name, host, pods: [] })
      const env = { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=2', WEFT_PEERS: peers, WEFT_ROUTING: 'direct', WEFT_NODE_IP: `${host.ip},${V6(n)}`, WEFT_ROUTE_INTERVAL_MS: '1000' }
      agents.push({ name, agent: await cluster.start({ name, netns: host.netns, host: host.ip, port: PORT, env }) })
    }
    await agents[0]!.agent.client.prime()
    await waitFor('each family routed via the other node\'s address of that family', async () => (await Promise.all(nodes.map(async (n, i) => {
      const other = i === 0 ? 2 : 1
      const [r4, r6] = [await routesOf(n.host.netns, 4), await routesOf(n.host.netns, 6)]
      return r4.length > 0 && r6.length > 0 && r4.every(r => r.gateway === `${SUBNET}.${other}`) && r6.every(r => r.gateway === V6(other))
    }))).every(Boolean))
    for (const n of nodes) {
      const agent = agents.find(a => a.name === n.name)!.agent
      for (let i = 0; i < 2; i++) n.pods.push(await pods.add({ netns: n.host.netns, socketPath: agent.socketPath }, `${n.name}e${i}`))
    }
  })
  afterAll(async () => {
    await teardownInOrder(cluster, pods, lan)
  })

  it('lets every pod ping every pod on the other node, in both families', async () => {
    expect(nodes.flatMap(n => n.pods).every(p => p.addresses.length === 2)).toBe(true)
    expect(await crossPings(nodes)).toEqual([])
  })
})
