/**
 * Agents that find each other, and make their one ring, from the Node list of an API server
 * stand-in, with nothing configured per cluster: no WEFT_PEERS, no IPALLOC_INIT. Each agent listens
 * on its own loopback address (its node's InternalIP) and the one mesh port, as nodes do.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import type { StatusResponse } from '@weft/protocol'
import { startFakeKube } from './fake-kube.ts'
import type { FakeKube } from './fake-kube.ts'
import { Cluster, freePortOn, inParallel, logEvents, onlyAddress, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

const TOKEN = 'sa-token-for-bootstrap'
let cluster: Cluster | null = null
let kube: FakeKube | null = null

afterEach(async () => {
  try {
    await cluster?.teardown()
  } finally {
    await kube?.close()
    cluster = null
    kube = null
  }
})

interface Nodes {
  readonly ips: readonly string[]
  readonly port: number
  start: (i: number) => Promise<AgentProcess>
}

/** A cluster dir, an API stand-in listing nothing yet, and `count` node addresses sharing one free port. */
async function setUp (label: string, count: number): Promise<Nodes> {
  cluster = await Cluster.create(label)
  kube = await startFakeKube(TOKEN, [])
  const secretsDir = join(cluster.dir, 'serviceaccount')
  await mkdir(secretsDir)
  await writeFile(join(secretsDir, 'token'), TOKEN, { mode: 0o600 })
  const net = `127.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}`
  const ips = Array.from({ length: count }, (_, i) => `${net}.${i + 1}`)
  const port = await freePortOn(ips)
  const env = {
    IPALLOC_RANGE: '10.63.0.0/16',
    WEFT_DISCOVERY: 'kubernetes',
    WEFT_RECLAIM: 'off',
    WEFT_KUBE_API: kube.url,
    WEFT_KUBE_SECRETS_DIR: secretsDir,
    WEFT_KUBE_POLL_MS: '200'
  }
  return { ips, port, start: async i => await cluster!.start({ name: `node-${i}`, host: ips[i]!, port, env }) }
}

const statuses = async (agents: readonly AgentProcess[]): Promise<StatusResponse[]> =>
  await Promise.all(agents.map(async a => await a.client.status()))

/** Every agent ready, all in the ring seeded by `seeds`' peers, and (`meshed`) seeing every other reachable. */
async function oneRing (agents: readonly AgentProcess[], seeds: readonly AgentProcess[], meshed = true): Promise<void> {
  const ids = (await statuses(seeds)).map(s => s.peer.id).sort()
  await waitFor(`one ring seeded by ${seeds.map(a => a.name).join(', ')} on ${agents.map(a => a.name).join(', ')}`, async () => {
    const reports = await Promise.all(agents.map(async a => await a.client.report()))
    return reports.every(r => r.status.status === 'ready' && r.ring.seeds.join() === ids.join() &&
      r.status.peers.length >= seeds.length && (!meshed || r.status.peers.every(p => p.reachable)))
  })
}

it('waits out an API that does not answer, naming it, then is ready alone; nodes added one at a time join its ring', async () => {
  const nodes = await setUp('kube-grow', 3)
  kube!.failing = true
  kube!.add('node-0', nodes.ips[0])
  const first = await nodes.start(0)
  const failures = (): number => logEvents(first, 'kube-api-unreachable').length
  // The source logs the first failure and every tenth: two lines are ten failed listings at least.
  await waitFor('ten failed listings', () => failures() >= 2)
  const down = await first.client.status()
  expect(down.status).not.toBe('ready')
  expect(down.statusText).toContain(`cannot list nodes at ${kube!.url}/`)
  expect(down.kubernetes).toMatchObject({ api: `${kube!.url}/`, nodes: null })
  expect((await first.client.report()).ring.entries).toEqual([])

  kube!.failing = false
  await oneRing([first], [first])
  expect(logEvents(first, 'kube-api-back')).not.toEqual([])
  expect((await first.client.status()).kubernetes).toEqual({ api: `${kube!.url}/`, nodes: 1, error: null })

  const agents = [first]
  for (const i of [1, 2]) {
    kube!.add(`node-${i}`, nodes.ips[i])
    agents.push(await nodes.start(i))
    await oneRing(agents, [first])
    // The newcomer gets space from the ring, by donation.
    const got = await agents[i]!.client.allocate({ network: 'weft', containerId: `pod-${i}`, ifname: 'eth0' })
    expect(onlyAddress(got).address.startsWith('10.63.')).toBe(true)
  }
  expect(agents.flatMap(a => logEvents(a, 'initialised'))).toHaveLength(1)

  // A deleted node's address is no longer dialled.
  kube!.nodes.delete('node-2')
  await waitFor('node-0 to drop node-2\'s address', () =>
    logEvents(first, 'peer-address-dropped').some(l => l.addr === `/ip4/${nodes.ips[2]}/tcp/${nodes.port}`))
})

it('three nodes started together make one ring of three', async () => {
  const nodes = await setUp('kube-three', 3)
  for (const i of [0, 1, 2]) kube!.add(`node-${i}`, nodes.ips[i])
  const agents = await inParallel(3, 3, async i => await nodes.start(i))
  await oneRing(agents, agents)
})

it('a partial Node list at start makes one ring all the same', async () => {
  const nodes = await setUp('kube-partial', 3)
  for (const i of [0, 1, 2]) kube!.add(`node-${i}`, nodes.ips[i])
  // Only the first node is listed yet, as for the earliest agents of a cluster coming up.
  const later = [...kube!.nodes.values()].slice(1)
  for (const n of later) kube!.nodes.delete(n.name)
  const agents = await inParallel(3, 3, async i => await nodes.start(i))
  // The unlisted agents dial the listed node, never split, and take the first node's ring.
  // (They cannot dial each other yet: neither is listed.)
  await oneRing(agents, [agents[0]!], false)
  for (const n of later) kube!.nodes.set(n.name, n)
  await oneRing(agents, [agents[0]!])
  expect(agents.flatMap(a => logEvents(a, 'initialised'))).toHaveLength(1)
})
