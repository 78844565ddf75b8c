/**
 * A mesh sized for CI: 12 agent processes on loopback, each given only the first three in
 * WEFT_PEERS, `consensus=12`, every one primed at once. They must learn each other from the address
 * books, become ready, and agree: every agent's `status ipam` the same, with no peer unreachable.
 * Then an agent is killed and taken over, and no agent dials its address any more.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { StatusResponse } from '@weft/protocol'
import { Cluster, freePort, logEvents, waitFor, waitForSocket } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

const N = 12
const RANGE = '10.45.0.0/16'
let cluster: Cluster
let agents: AgentProcess[]

/** What `weft status ipam` shows, as one string: each peer, its share and whether it is reachable. */
const view = (s: StatusResponse): string =>
  s.peers.map(p => `${p.nickname}:${p.addresses}:${p.reachable ? 'reachable' : 'unreachable!'}`).sort().join(' ')
const views = async (among: readonly AgentProcess[]): Promise<string[]> => (await Promise.all(among.map(async a => await a.client.status()))).map(view)

beforeAll(async () => {
  cluster = await Cluster.create('mesh-scale')
  const ports = await Promise.all(Array.from({ length: N }, async () => await freePort()))
  const env = { IPALLOC_RANGE: RANGE, IPALLOC_INIT: `consensus=${N}`, WEFT_PEERS: ports.slice(0, 3).map(p => `127.0.0.1:${p}`).join(',') }
  agents = await Promise.all(ports.map(async (port, i) => await cluster.spawn({ name: `s${String(i).padStart(2, '0')}`, port, env })))
  // Twelve processes starting at once on a small machine: a longer bound on each socket than one agent needs.
  await Promise.all(agents.map(async a => await waitForSocket(a, 600)))
})
afterAll(async () => { await cluster.teardown() })

it('twelve agents given three peers each learn the whole mesh, become ready and agree, with no peer unreachable', async () => {
  // A prime may time out before the ring exists on a loaded machine; the need it started stays.
  for (const a of agents) void a.client.prime().catch(() => undefined)
  await waitFor('every agent ready', async () => (await Promise.all(agents.map(async a => await a.client.status()))).every(s => s.status === 'ready'), 120, 500)
  await waitFor('every status ipam the same, every peer reachable', async () => {
    const v = await views(agents)
    return v.every(x => x === v[0]) && !v[0]!.includes('unreachable') && v[0]!.split(' ').length === N
  }, 120, 500)
  const statuses = await Promise.all(agents.map(async a => await a.client.status()))
  // Each learnt every other from the books: connected to all, not only to the three it was given.
  for (const s of statuses) expect(s.connections, s.peer.nickname).toBeGreaterThanOrEqual(N - 1)

  const [dead, ...alive] = [agents.at(-1)!, ...agents.slice(0, -1)]
  const deadId = statuses.at(-1)!.peer.id
  await cluster.kill(dead)
  await waitFor('the dead agent unreachable everywhere', async () =>
    (await Promise.all(alive.map(async a => await a.client.status()))).every(s => s.peers.find(p => p.id === deadId)?.reachable === false), 120, 500)
  await alive[0]!.client.rmpeer({ peer: deadId })
  await waitFor('every agent to drop the address of the removed agent', () =>
    alive.every(a => logEvents(a, 'peer-address-dropped').some(e => e.peer === deadId)), 120, 500)
  await waitFor('the rest to agree without it', async () => {
    const now = await views(alive)
    return now.every(x => x === now[0]) && now[0]!.split(' ').length === N - 1 && !now[0]!.includes('unreachable')
  }, 120, 500)
}, 600_000)
