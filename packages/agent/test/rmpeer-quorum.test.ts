/**
 * rmpeer without a reachable majority: one agent of three, cut off from both others, must not take
 * anyone over, and says why; with --force (the others gone for good) it takes both over.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ApiError } from '@weft/protocol'
import { Cluster, startMesh, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
let agents: AgentProcess[]
beforeAll(async () => {
  cluster = await Cluster.create('rmpeer-quorum')
  agents = await startMesh(cluster, ['q0', 'q1', 'q2'], { IPALLOC_RANGE: '10.61.0.0/16', WEFT_REQUEST_TIMEOUT_MS: '5000' })
})
afterAll(async () => { await cluster.teardown() })

// One test: the forced takeover needs the cut-off survivor the refusal leaves, and three more agents
// would cost seconds for nothing.
it('fails with no-quorum, naming the counts, and takes nothing over; with --force takes the dead over one after the other, and the survivor ends up owning the whole range', async () => {
  const [survivor, b, c] = agents as [AgentProcess, AgentProcess, AgentProcess]
  const cId = (await c.client.status()).peer.id
  await cluster.kill(b)
  await cluster.kill(c)
  await waitFor('both others unreachable', async () => (await survivor.client.status()).peers.filter(p => !p.local).every(p => !p.reachable))

  const err = await survivor.client.rmpeer({ peer: 'q2' }).then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ApiError)
  expect((err as ApiError).code).toBe('no-quorum')
  expect((err as ApiError).message).toMatch(/\d+ of \d+/)
  const refused = await survivor.client.report()
  expect(refused.ring.removed).toEqual([])
  expect(refused.status.peers.find(p => p.id === cId)?.addresses).not.toBe('0')

  // With --force (the others gone for good) it takes both over.
  const ids = (await survivor.client.status()).peers.filter(p => !p.local).map(p => p.id)
  expect(ids).toHaveLength(2)
  expect(await survivor.client.rmpeer({ peer: 'q2', force: true })).toMatchObject({ nickname: 'q2' })
  expect(await survivor.client.rmpeer({ peer: 'q1', force: true })).toMatchObject({ nickname: 'q1' })
  await waitFor('the survivor to own and use the whole range', async () => {
    const s = await survivor.client.status()
    // Free to allocate: all of it but the network and broadcast addresses.
    return s.peers.length === 1 && s.peers[0]?.addresses === s.rangeSize && BigInt(s.freeLocal) === BigInt(s.rangeSize) - 2n
  })
  const report = await survivor.client.report()
  expect(report.ring.removed.map(r => r.peer).sort()).toEqual([...ids].sort())
  expect(report.ring.entries.every(e => e.owner === report.status.peer.id)).toBe(true)
})
