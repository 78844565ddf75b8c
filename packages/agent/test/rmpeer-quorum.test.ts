/**
 * rmpeer without a reachable majority: one agent of three, cut off from both others, must not take
 * anyone over, and says why.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { Cluster, startMesh, waitFor } from './harness.ts'
import type { AgentProcess } from './harness.ts'

let cluster: Cluster
let agents: AgentProcess[]
beforeAll(async () => {
  cluster = await Cluster.create('rmpeer-quorum')
  agents = await startMesh(cluster, ['q0', 'q1', 'q2'], { IPALLOC_RANGE: '10.61.0.0/16', WEFT_REQUEST_TIMEOUT_MS: '5000' })
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
