import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { StatusResponse } from '@weft/protocol'
import { Cluster, evenWithin, inParallel, spreadOf, startMesh, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

const RANGE_SIZE = 1n << 20n // 10.32.0.0/12
/** The README's bound: after a quiet period every share is within 10 % of the mean. */
const TOLERANCE = 0.1
const PODS = 20

let cluster: Cluster
let agents: AgentProcess[]
/** Every allocation made, by agent name: address per container. */
const held = new Map<string, Map<string, string>>()

beforeAll(async () => {
  cluster = await Cluster.create('shares')
  agents = await startMesh(cluster, ['sh-0', 'sh-1', 'sh-2'], {})
  for (const a of agents) await allocate(a)
})
afterAll(async () => { await cluster.teardown() })

async function allocate (agent: AgentProcess): Promise<void> {
  const mine = held.get(agent.name) ?? new Map<string, string>()
  held.set(agent.name, mine)
  const start = mine.size
  const got = await inParallel(PODS, 4, async i => await agent.client.allocate({ network: 'weft', containerId: `${agent.name}-c${start + i}`, ifname: 'eth0' }))
  got.forEach((r, i) => mine.set(`${agent.name}-c${start + i}`, r.addresses[0]!.address))
}

const statuses = async (list: readonly AgentProcess[]): Promise<StatusResponse[]> => await Promise.all(list.map(async a => await a.client.status()))
const sharesKey = (s: StatusResponse): string => s.peers.map(p => `${p.id}=${p.addresses}`).sort().join()

/** Every agent shows the same `owners` shares, covering the range, each within the bound. */
async function waitEven (list: readonly AgentProcess[], owners: number): Promise<StatusResponse[]> {
  let last: StatusResponse[] = []
  await waitFor(`${owners} agents to agree on even shares`, async () => {
    last = await statuses(list)
    return last.every(s => sharesKey(s) === sharesKey(last[0]!) && evenWithin(spreadOf(s), owners, RANGE_SIZE, TOLERANCE))
  }, 400, 100)
  return last
}

/** Allocations never move: every agent still holds exactly what it was given, and no address twice. */
async function expectAllocationsKept (list: readonly AgentProcess[]): Promise<void> {
  const all: string[] = []
  for (const a of list) {
    const listed = new Map((await a.client.allocations()).allocations.map(x => [x.containerId, x.address]))
    expect(listed).toEqual(held.get(a.name))
    all.push(...listed.values())
  }
  expect(new Set(all).size).toBe(all.length)
}

describe('even shares with real agents', () => {
  it('three agents split evenly; a fourth and a fifth joining one at a time even out to 1/N', async () => {
    await waitEven(agents, 3)
    for (const name of ['sh-3', 'sh-4']) {
      const joiner = await cluster.start({ name, env: { WEFT_PEERS: agents.map(a => a.addr).join(','), IPALLOC_INIT: `consensus=${agents.length + 1}` } })
      agents.push(joiner)
      await allocate(joiner)
      const after = await waitEven(agents, agents.length)
      const spread = spreadOf(after[0]!)
      // Without rebalancing a joiner gets half of one donor's share: 1/6 beside 1/3 after the fourth.
      expect(spread.maxRatio / spread.minRatio).toBeLessThan(1.25)
      await expectAllocationsKept(agents)
    }
  })

  it('a removal: the heir does not keep twice its share, the others even out again', async () => {
    const [dead, ...rest] = [agents[4]!, ...agents.slice(0, 4)]
    const deadId = (await dead.client.status()).peer.id
    await cluster.kill(dead)
    held.delete(dead.name)
    await waitFor('the others to see the dead agent unreachable', async () =>
      (await statuses(rest)).every(s => s.peers.some(p => p.id === deadId && !p.reachable)))
    await rest[0]!.client.rmpeer({ peer: deadId })
    await waitEven(rest, 4)
    await expectAllocationsKept(rest)
  })
})
