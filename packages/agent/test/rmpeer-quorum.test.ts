/**
 * rmpeer without a reachable majority: one agent of three, cut off from both others, must not take
 * anyone over, and says why.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { Cluster, freePort, waitFor } from './harness.ts'
import type { AgentProcess } from './harness.ts'

let cluster: Cluster
let agents: AgentProcess[]
beforeAll(async () => {
  cluster = await Cluster.create('rmpeer-quorum')
  const ports = [await freePort(), await freePort(), await freePort()]
  const env = { IPALLOC_INIT: 'consensus=3', IPALLOC_RANGE: '10.61.0.0/16', WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(','), WEFT_REQUEST_TIMEOUT_MS: '5000' }
  agents = await Promise.all(ports.map(async (port, i) => await cluster.start({ name: `q${i}`, port, env })))
  await agents[0]!.client.prime()
  await waitFor('three named, reachable owners everywhere', async () => (await Promise.all(agents.map(async a => await a.client.status())))
    .every(s => s.peers.length === 3 && s.peers.every(p => p.reachable && /^q[0-2]$/.test(p.nickname))))
})
afterAll(async () => { await cluster.teardown() })

it('fails with no-quorum, naming the counts, when a majority cannot be reached, and takes nothing over', async () => {
  const [survivor, b, c] = agents as [AgentProcess, AgentProcess, AgentProcess]
  const cId = (await c.client.status()).peer.id
  await cluster.kill(b)
  await cluster.kill(c)
  await waitFor('both others unreachable', async () => (await survivor.client.status()).peers.filter(p => !p.local).every(p => !p.reachable))

  const err = await survivor.client.rmpeer({ peer: 'q2' }).then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ApiError)
  expect((err as ApiError).code).toBe('no-quorum')
  expect((err as ApiError).message).toMatch(/\d+ of \d+/)
  const report = await survivor.client.report()
  expect(report.ring.removed).toEqual([])
  expect(report.status.peers.find(p => p.id === cId)?.addresses).not.toBe('0')
})
