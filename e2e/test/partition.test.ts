/**
 * A partition and its heal, with real agents in network namespaces on a LAN the test builds. Three
 * agents make a ring; one is split off. Both sides go on allocating, each side takes in a new agent
 * that gets its space by donation there, and the minority cannot take anyone over. After the heal
 * every agent converges on one ring that covers the range exactly, every address is held once, and
 * every allocation lies in space its agent owns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { offsetOf, parseUniverse } from '@weft/ring'
import type { AllocateResponse, ReportResponse } from '@weft/protocol'
import { Cluster, namespaceSkipReason, onlyAddress, teardownInOrder, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { Lan } from '../src/lan.ts'
import type { Side } from '../src/lan.ts'

const RANGE = '10.66.0.0/16'
const universe = parseUniverse(RANGE)
const PORT = 6783
const PER_AGENT = 20
const SUBNET = '198.18.66'
/** Each agent's host number on the LAN: its address is <SUBNET>.<n>. */
const HOSTS: Readonly<Record<string, number>> = { a: 1, b: 2, c: 3, d: 4, e: 5 }
const addressOf = (name: string): string => `/ip4/${SUBNET}.${HOSTS[name] ?? 0}/tcp/${PORT}`
const skipReason = await namespaceSkipReason()

describe.skipIf(skipReason !== null)('a partition and its heal', () => {
  let lan: Lan
  let cluster: Cluster
  const agents = new Map<string, AgentProcess>()
  const held: Array<{ agent: string, answer: AllocateResponse }> = []

  const start = async (name: string, peers: readonly string[], side: Side = 0): Promise<AgentProcess> => {
    const host = await lan.add(name, HOSTS[name] ?? 0, side)
    const agent = await cluster.start({
      name,
      netns: host.netns,
      host: host.ip,
      port: PORT,
      env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=3', WEFT_PEERS: peers.map(addressOf).join(',') }
    })
    agents.set(name, agent)
    return agent
  }
  const agent = (name: string): AgentProcess => {
    const a = agents.get(name)
    if (a === undefined) throw new Error(`no agent ${name}`)
    return a
  }
  /** True when `name` sees exactly `reachable` (by nickname) as the reachable peers besides itself. */
  const sees = async (name: string, reachable: readonly string[]): Promise<boolean> => {
    const s = await agent(name).client.status()
    const now = s.peers.filter(p => !p.local && p.reachable).map(p => p.nickname).sort()
    return now.join() === [...reachable].sort().join()
  }
  const allocate = async (name: string, count: number, label: string): Promise<void> => {
    for (let i = 0; i < count; i++) {
      held.push({ agent: name, answer: await agent(name).client.allocate({ network: 'weft', containerId: `${label}-${name}-${i}`, ifname: 'eth0' }) })
    }
  }
  const reports = async (): Promise<Map<string, ReportResponse>> =>
    new Map(await Promise.all([...agents].map(async ([name, a]) => [name, await a.client.report()] as const)))

  beforeAll(async () => {
    lan = await Lan.create(SUBNET)
    cluster = await Cluster.create('partition')
    const names = ['a', 'b', 'c']
    await Promise.all(names.map(async (name) => await start(name, names)))
    await agent('a').client.prime()
    await waitFor('a, b and c to see each other', async () => (await Promise.all(names.map(async n => await sees(n, names.filter(o => o !== n))))).every(Boolean))
  })
  afterAll(async () => {
    await teardownInOrder(cluster, lan)
  })

  it('keeps both sides allocating, lets each side take in a new agent, and refuses a takeover to the minority', async () => {
    await lan.split('c')
    await waitFor('the split to be seen on both sides', async () =>
      await sees('a', ['b']) && await sees('b', ['a']) && await sees('c', []))

    // Both newcomers list every node, as a headless Service would resolve; d can reach only c.
    const everyone = Object.keys(HOSTS)
    await start('d', everyone, 1)
    await start('e', everyone)
    // c is in the farther half of d's list; its nearer half (e and a) is cut off, found unreachable
    // within seconds (no answer to ARP), so d, connected to nobody, dials its farther half at once.
    await waitFor('d and e to join their sides', async () =>
      await sees('d', ['c']) && await sees('c', ['d']) && await sees('e', ['a', 'b']), 300, 100)

    for (const name of ['a', 'b', 'c', 'd', 'e']) await allocate(name, PER_AGENT, 'split')

    const refused = await agent('c').client.rmpeer({ peer: 'a' }).then(() => null, (e: unknown) => e)
    expect(refused).toBeInstanceOf(ApiError)
    expect((refused as ApiError).code).toBe('no-quorum')
  })

  it('converges after the heal on one ring that covers the range, with every address held once', async () => {
    await lan.heal()
    const everyone = [...agents.keys()]
    // The mesh is whole again within seconds: at most 50 checks 100 ms apart (5 s and the checks' own time).
    await waitFor('every agent to see every other within seconds of the heal', async () =>
      (await Promise.all(everyone.map(async n => await sees(n, everyone.filter(o => o !== n))))).every(Boolean), 50, 100)
    await waitFor('every agent to hold the same ring', async () => {
      const rings = [...(await reports()).values()].map(r => JSON.stringify(r.ring.entries.map(e => [e.start, e.owner, e.version])))
      return rings.every(r => r === rings[0])
    })

    for (const name of everyone) await allocate(name, PER_AGENT, 'healed')
    expect(held).toHaveLength(2 * everyone.length * PER_AGENT)
    expect(new Set(held.map(h => onlyAddress(h.answer).address)).size).toBe(held.length)

    const byName = await reports()
    const view = byName.get('a')!
    const total = view.ring.entries.reduce((sum, e) => sum + BigInt(e.size), 0n)
    expect(total.toString()).toBe(view.status.rangeSize)
    expect(view.ring.removed).toEqual([])
    for (const [name, r] of byName) {
      const id = r.status.peer.id
      const mine = r.ring.entries.filter(e => e.owner === id)
      expect(mine.length, `${name} owns space`).toBeGreaterThan(0)
      for (const a of r.allocations) {
        const at = offsetOf(universe, a.address)
        expect(mine.some(e => at >= BigInt(e.token) && at < BigInt(e.token) + BigInt(e.size)), `${name} owns ${a.address}`).toBe(true)
      }
      expect(r.allocations).toHaveLength(2 * PER_AGENT)
    }
  })
})
