/**
 * The setting most cluster scenarios share: N nodes on one LAN of the test's making, the DaemonSet's
 * pod laid out on each, the agents started together (the moment of the last start is kept, for the
 * figures), and what the scenarios read back from the agents: who owns which part of the ring.
 */
import { namespaceSkipReason, waitFor, which } from '@weft/testkit'
import { Lan } from '../lan.ts'
import { KubeCluster } from './cluster.ts'
import type { ClusterOptions, KubeNode } from './cluster.ts'
import { routeTo } from './pods.ts'

export interface LanCluster {
  readonly lan: Lan
  readonly cluster: KubeCluster
  readonly nodes: KubeNode[]
  /** performance.now() when the last agent was started. */
  readonly lastStart: number
  teardown: () => Promise<void>
}

/** `subnet`: the LAN's /24 as three octets; nodes are node-1..node-N at .1...N. */
export async function lanCluster (options: ClusterOptions, subnet: string, count: number): Promise<LanCluster> {
  const lan = await Lan.create(subnet)
  let cluster: KubeCluster | undefined
  const teardown = async (): Promise<void> => {
    await cluster?.teardown()
    await lan.teardown()
  }
  try {
    cluster = await KubeCluster.create(options)
    const nodes: KubeNode[] = []
    for (let i = 1; i <= count; i++) nodes.push(await cluster.join(`node-${i}`, await lan.add(`n${i}`, i), false))
    for (const n of nodes) n.startAgent()
    return { lan, cluster, nodes, lastStart: performance.now(), teardown }
  } catch (err) {
    await teardown()
    throw err
  }
}

export interface Holding {
  /** First address of the range. */
  readonly start: string
  readonly size: bigint
  /** The owner's nickname: its node's name. */
  readonly owner: string
}

/** The ring as `node`'s agent reports it: every range and the node that owns it. */
export async function holdings (node: KubeNode): Promise<Holding[]> {
  const report = await node.client.report()
  const names = new Map(report.status.peers.map((p) => [p.id, p.nickname]))
  return report.ring.entries.map((e) => ({ start: e.start, size: BigInt(e.size), owner: names.get(e.owner) ?? e.owner }))
}

/**
 * Every node routes the start of every range another node owns via that node's address: what direct
 * routing promises. Returns the misses as lines, empty when all is routed.
 */
export async function misrouted (nodes: readonly KubeNode[]): Promise<string[]> {
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const misses: string[] = []
  for (const n of nodes) {
    for (const h of await holdings(n)) {
      const owner = byName.get(h.owner)
      if (owner === undefined || owner === n || h.size === 0n) continue
      const r = await routeTo(n, h.start)
      if (r?.gateway !== owner.host.ip) misses.push(`${n.name}: ${h.start} (${h.owner}'s) goes ${JSON.stringify(r)}`)
    }
  }
  return misses
}

/** Waits (bounded) until `nodes` all agree on the ring and every range is routed to its owner. */
export async function routedToOwners (nodes: readonly KubeNode[], attempts = 300): Promise<void> {
  let last: string[] = []
  await waitFor('routes to every range\'s owner on every node', async () => {
    last = await misrouted(nodes)
    return last.length === 0
  }, attempts, 200).catch((err: Error) => { throw new Error(`${err.message}\n${last.join('\n')}`) })
}

/** Why the cluster suite cannot run here, or null: namespaces, and the tools a node and its runtime use. */
/** Runs a scenario's set-up; a failure carries every node's log, the first thing to read then. */
export async function withLogs (c: LanCluster, steps: () => Promise<void>): Promise<void> {
  try {
    await steps()
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await c.cluster.logs()}`)
  }
}

export async function clusterSkipReason (): Promise<string | null> {
  const base = await namespaceSkipReason()
  if (base !== null) return base
  for (const [tool, pkg] of [['nsenter', 'util-linux'], ['unshare', 'util-linux'], ['openssl', 'openssl'], ['iptables', 'iptables']] as const) {
    if (await which(tool) === null) return `needs ${tool} (${pkg}; scripts/system-deps.sh installs it)`
  }
  return null
}
