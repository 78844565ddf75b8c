/**
 * Direct routing between real agents in network namespaces on one LAN: three nodes, two pods each made
 * with the real `bridge` plugin and weft IPAM. Every pod reaches every pod on the other nodes, a TCP
 * connection crosses nodes, each node's host reaches every pod (one node found its own address
 * without WEFT_NODE_IP); a joining node's space (a donation) and
 * a dead node's takeover are routed on every node. Prints how long routes took to follow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, inNetns, inParallel, logEvents, must, namespaceSkipReason, teardownInOrder, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { Lan } from '../src/lan.ts'
import type { LanHost } from '../src/lan.ts'
import { pings, Pods, tcpExchange, weftRoutes } from '../src/pods.ts'
import type { Pod } from '../src/pods.ts'

const SUBNET = '198.18.70'
const RANGE = '10.70.0.0/16'
const PORT = 6783
const METRICS_PORT = 6782
const skipReason = await namespaceSkipReason()

interface Node { readonly host: LanHost, agent: AgentProcess, readonly pods: Pod[] }

describe.skipIf(skipReason !== null)('direct routing across three nodes on one LAN', () => {
  let lan: Lan
  let cluster: Cluster
  let pods: Pods
  const nodes = new Map<string, Node>()
  const everyone = ['a', 'b', 'c', 'd'].map((_, i) => `/ip4/${SUBNET}.${i + 1}/tcp/${PORT}`).join(',')

  const start = async (name: string, n: number): Promise<Node> => {
    const host = await lan.add(name, n)
    const agent = await cluster.start({
      name,
      netns: host.netns,
      host: host.ip,
      port: PORT,
      env: {
        IPALLOC_RANGE: RANGE,
        IPALLOC_INIT: 'consensus=3',
        WEFT_PEERS: everyone,
        WEFT_ROUTING: 'direct',
        WEFT_ROUTE_INTERVAL_MS: '1000',
        // c finds its address itself: the source address of its route towards the first peer.
        ...(name === 'c' ? {} : { WEFT_NODE_IP: host.ip }),
        WEFT_METRICS_ADDR: `127.0.0.1:${METRICS_PORT}`
      }
    })
    const node = { host, agent, pods: [] }
    nodes.set(name, node)
    return node
  }
  const node = (name: string): Node => nodes.get(name) ?? (() => { throw new Error(`no node ${name}`) })()
  /** True once `name`'s weft routes go exactly to the nodes `via` (by name). */
  const routesTo = async (name: string, via: readonly string[]): Promise<boolean> => {
    const gateways = new Set((await weftRoutes(node(name).host.netns)).map(r => r.gateway))
    return gateways.size === via.length && via.every(v => gateways.has(node(v).host.ip))
  }
  const routedEverywhere = async (names: readonly string[]): Promise<boolean> =>
    (await Promise.all(names.map(async n => await routesTo(n, names.filter(o => o !== n))))).every(Boolean)
  const addPods = async (name: string, count: number): Promise<void> => {
    const n = node(name)
    for (let i = 0; i < count; i++) n.pods.push(await pods.add({ netns: n.host.netns, socketPath: n.agent.socketPath }, `${name}p${i}`))
  }
  /** Every pod on `names` pings every pod on the other nodes among `names`; returns the pairs that failed. */
  const crossPings = async (names: readonly string[]): Promise<string[]> => {
    const pairs = names.flatMap(from => names.filter(to => to !== from).flatMap(to =>
      node(from).pods.flatMap(p => node(to).pods.map(q => ({ from: p, to: q, label: `${from}:${p.address} -> ${to}:${q.address}` })))))
    const ok = await inParallel(pairs.length, 4, async i => await pings(pairs[i]!.from.netns, pairs[i]!.to.address))
    return pairs.filter((_, i) => !ok[i]).map(p => p.label)
  }

  beforeAll(async () => {
    lan = await Lan.create(SUBNET)
    cluster = await Cluster.create('routes-direct')
    pods = await Pods.create()
    await Promise.all([['a', 1], ['b', 2], ['c', 3]].map(async ([name, n]) => await start(name as string, n as number)))
    await node('a').agent.client.prime()
    await waitFor('every node to route to the other two', async () => await routedEverywhere(['a', 'b', 'c']))
    for (const name of ['a', 'b', 'c']) await addPods(name, 2)
  })
  afterAll(async () => {
    await teardownInOrder(cluster, pods, lan)
  })

  it('lets every pod ping every pod on the other nodes, and each host every pod', async () => {
    expect(await crossPings(['a', 'b', 'c'])).toEqual([])
    const all = ['a', 'b', 'c'].flatMap(n => node(n).pods)
    const nodeIps = ['a', 'b', 'c'].map(n => node(n).host.ip)
    expect(all.filter(p => nodeIps.includes(p.address))).toEqual([])
    for (const name of ['a', 'b', 'c']) {
      for (const p of all) expect(await pings(node(name).host.netns, p.address), `${name} -> ${p.address}`).toBe(true)
    }
  })

  it('reports its routes in the metrics', async () => {
    const a = node('a')
    const read = `fetch('http://127.0.0.1:${METRICS_PORT}/metrics').then(r => r.text()).then(t => console.log(t))`
    const text = await must(inNetns(a.host.netns, [process.execPath, '-e', read]))
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
    expect(value('weft_routes')).toBe((await weftRoutes(a.host.netns)).length)
    expect(value('weft_route_unroutable_peers')).toBe(0)
    expect(value('weft_route_failures_total')).toBe(0)
  })

  it('carries a TCP connection from a pod on one node to a pod on another', async () => {
    const server = node('c').pods[0]!
    expect(await tcpExchange(server, node('a').pods[0]!)).toBe(`hello from ${server.address}`)
  })

  it('routes a joining node\'s space on every node, and a dead node\'s ranges to its heir', async () => {
    const d = await start('d', 4)
    await d.agent.client.prime()
    await waitFor('every node to route to the other three', async () => await routedEverywhere(['a', 'b', 'c', 'd']))
    const routed = Date.now()
    // The routes follow the batch that stored the donation; its log line comes after that batch and
    // reaches the test through the agent's stdout, so it may arrive a moment later.
    await waitFor('d to log the space it received', () => logEvents(d.agent, 'space-received').length > 0, 50)
    const given = logEvents(d.agent, 'space-received')[0]
    expect(given?.time).toBeDefined()
    console.log(`routes on every node followed a donation within ${routed - given!.time!} ms`)
    await addPods('d', 1)
    // d keeps evening out its share after the first donation: its pod may sit in space the others
    // route a moment later, so the pings are waited for (bounded) before they must all pass.
    let missed: string[] = []
    await waitFor('a\'s and d\'s pods to reach each other', async () => (missed = await crossPings(['a', 'd'])).length === 0, 40, 250).catch(() => {})
    expect(missed).toEqual([])

    const dId = (await d.agent.client.status()).peer.id
    await cluster.kill(d.agent)
    await waitFor('a to see d unreachable', async () => (await node('a').agent.client.status()).peers.some(p => p.id === dId && !p.reachable))
    const asked = Date.now()
    await node('a').agent.client.rmpeer({ peer: dId })
    await waitFor('no node to route to d', async () => await routedEverywhere(['a', 'b', 'c']))
    console.log(`routes on every node followed a takeover within ${Date.now() - asked} ms of rmpeer`)
    expect(await crossPings(['a', 'b', 'c'])).toEqual([])
  })
})
