/**
 * VXLAN routing between real agents on two subnets joined by a router namespace, so the nodes have no
 * L2 adjacency: direct routes via the other subnet's node addresses could not work, the tunnel does.
 * Pods (MTU 1450, the tunnel's) ping across nodes, big packets included, and a restarted agent keeps
 * the tunnel and removes what a node deleted meanwhile left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, inNetns, inParallel, must, namespaceSkipReason, run, teardownInOrder, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { VXLAN_DEVICE } from '@weft/routes'
import type { LanHost } from '../src/lan.ts'
import { pings, Pods, weftRoutes } from '../src/pods.ts'
import type { Pod } from '../src/pods.ts'
import { RoutedNet } from '../src/routed.ts'

const PREFIXES = ['198.18.71', '198.18.72'] as const
const RANGE = '10.71.0.0/16'
const PORT = 6783
const MTU = 1450
const skipReason = await namespaceSkipReason()

interface Node { readonly host: LanHost, agent: AgentProcess, readonly pods: Pod[] }

describe.skipIf(skipReason !== null)('vxlan routing across two subnets', () => {
  let net: RoutedNet
  let cluster: Cluster
  let pods: Pods
  const nodes = new Map<string, Node>()
  // a and b on the first subnet, c on the second.
  const layout = [['a', 0, 1], ['b', 0, 2], ['c', 1, 3]] as const
  const peers = layout.map(([, side, n]) => `/ip4/${PREFIXES[side]}.${n}/tcp/${PORT}`).join(',')
  const env = (host: LanHost): Record<string, string> =>
    ({ IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=3', WEFT_PEERS: peers, WEFT_ROUTING: 'vxlan', WEFT_NODE_IP: host.ip, WEFT_ROUTE_INTERVAL_MS: '1000' })
  const node = (name: string): Node => nodes.get(name) ?? (() => { throw new Error(`no node ${name}`) })()
  const tunnelledEverywhere = async (): Promise<boolean> => (await Promise.all([...nodes.values()].map(async n => {
    const rs = await weftRoutes(n.host.netns)
    const others = [...nodes.values()].filter(o => o !== n).map(o => o.host.ip)
    return rs.length > 0 && rs.every(r => r.dev === VXLAN_DEVICE) && others.every(ip => rs.some(r => r.gateway === ip))
  }))).every(Boolean)
  const crossPings = async (size?: number): Promise<string[]> => {
    const all = [...nodes.entries()]
    const pairs = all.flatMap(([from, f]) => all.filter(([to]) => to !== from).flatMap(([to, t]) =>
      f.pods.flatMap(p => t.pods.map(q => ({ from: p, to: q, label: `${from}:${p.address} -> ${to}:${q.address}` })))))
    const ok = await inParallel(pairs.length, 4, async i => size === undefined
      ? await pings(pairs[i]!.from.netns, pairs[i]!.to.address)
      : (await run(inNetns(pairs[i]!.from.netns, ['ping', '-c1', '-W2', '-M', 'do', '-s', String(size), pairs[i]!.to.address]))).code === 0)
    return pairs.filter((_, i) => !ok[i]).map(p => p.label)
  }

  beforeAll(async () => {
    net = await RoutedNet.create(PREFIXES)
    cluster = await Cluster.create('routes-vxlan')
    pods = await Pods.create()
    await Promise.all(layout.map(async ([name, side, n]) => {
      const host = await net.add(name, side, n)
      nodes.set(name, { host, agent: await cluster.start({ name, netns: host.netns, host: host.ip, port: PORT, env: env(host) }), pods: [] })
    }))
    await node('a').agent.client.prime()
    await waitFor('every node to tunnel to the other two', tunnelledEverywhere)
    for (const [name, n] of nodes) {
      for (let i = 0; i < 2; i++) n.pods.push(await pods.add({ netns: n.host.netns, socketPath: n.agent.socketPath, mtu: MTU }, `${name}p${i}`))
    }
  })
  afterAll(async () => {
    await teardownInOrder(cluster, pods, net)
  })

  it('has no L2 path between the subnets: c\'s address is not on a\'s link', async () => {
    const route = await must(['ip', '-n', node('a').host.netns, '-json', 'route', 'get', node('c').host.ip])
    expect(JSON.parse(route)).toMatchObject([{ gateway: `${PREFIXES[0]}.254` }])
  })

  it('lets every pod ping every pod on the other nodes, with packets as large as the pods\' MTU allows', async () => {
    expect(await crossPings()).toEqual([])
    // 1450 less 28 bytes of IP and ICMP headers, not fragmented: the tunnel carries a full pod packet.
    expect(await crossPings(MTU - 28)).toEqual([])
  })

  it('keeps the tunnel while an agent is down, and removes stale entries when it is back', async () => {
    const b = node('b')
    const before = await weftRoutes(b.host.netns)
    await cluster.kill(b.agent)
    // The kernel kept everything while no agent ran: pods still reach each other.
    expect(await pings(node('a').pods[0]!.netns, b.pods[0]!.address)).toBe(true)
    // What a node deleted while b was down would have left: a route, a neighbour and an FDB entry.
    const ghost = `${PREFIXES[1]}.9`
    await must(['ip', '-n', b.host.netns, 'neigh', 'replace', ghost, 'lladdr', '0a:77:c6:12:48:09', 'dev', VXLAN_DEVICE, 'nud', 'permanent'])
    await must(['bridge', '-n', b.host.netns, 'fdb', 'append', '0a:77:c6:12:48:09', 'dev', VXLAN_DEVICE, 'dst', ghost])
    await must(['ip', '-n', b.host.netns, 'route', 'add', '10.71.255.0/28', 'via', ghost, 'dev', VXLAN_DEVICE, 'onlink', 'proto', '157'])
    b.agent = await cluster.start({ name: 'b', netns: b.host.netns, host: b.host.ip, port: PORT, env: env(b.host), dataDir: b.agent.dataDir })
    await waitFor('b to see a and c again', async () => (await b.agent.client.status()).peers.filter(p => p.reachable).length === 3)
    await waitFor('b\'s routes as before', async () => JSON.stringify(await weftRoutes(b.host.netns)) === JSON.stringify(before))
    const fdb = JSON.parse(await must(['bridge', '-n', b.host.netns, '-json', 'fdb', 'show', 'dev', VXLAN_DEVICE])) as Array<{ dst?: string }>
    expect(fdb.filter(f => f.dst !== undefined).map(f => f.dst).sort()).toEqual([node('a').host.ip, node('c').host.ip].sort())
    const neigh = JSON.parse(await must(['ip', '-n', b.host.netns, '-json', 'neigh', 'show', 'dev', VXLAN_DEVICE])) as Array<{ dst: string }>
    expect(neigh.map(n => n.dst).sort()).toEqual([node('a').host.ip, node('c').host.ip].sort())
    expect(await crossPings()).toEqual([])
  })
})
