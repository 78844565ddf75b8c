/**
 * Three agents with reclaim on, against an API server stand-in that lists their nodes. An agent
 * killed while its node is still listed keeps its space; once its node is deleted the others take
 * it over by themselves, once, and the range stays covered exactly.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startFakeKube } from './fake-kube.ts'
import type { FakeKube } from './fake-kube.ts'
import { Cluster, logEvents, startMesh, waitFor } from '@weft/testkit'
import type { AgentProcess, LogLine } from '@weft/testkit'

const TOKEN = 'sa-token-for-tests'
const NAMES = ['node-0', 'node-1', 'node-2']
let cluster: Cluster
let kube: FakeKube
let agents: AgentProcess[]

beforeAll(async () => {
  cluster = await Cluster.create('reclaim')
  kube = await startFakeKube(TOKEN, NAMES)
  const secretsDir = join(cluster.dir, 'serviceaccount')
  await mkdir(secretsDir)
  await writeFile(join(secretsDir, 'token'), TOKEN, { mode: 0o600 })
  agents = await startMesh(cluster, NAMES, {
    IPALLOC_RANGE: '10.62.0.0/16',
    WEFT_RECLAIM: 'kubernetes',
    WEFT_KUBE_API: kube.url,
    WEFT_KUBE_SECRETS_DIR: secretsDir,
    WEFT_KUBE_POLL_MS: '200'
  })
})
afterAll(async () => {
  try {
    await cluster?.teardown()
  } finally {
    await kube?.close()
  }
})

it('leaves a dead agent whose node is listed, and takes it over once its node is deleted', async () => {
  const [a, b, gone] = agents as [AgentProcess, AgentProcess, AgentProcess]
  const goneId = (await gone.client.status()).peer.id
  await cluster.kill(gone)
  await waitFor('node-2 to be unreachable from both others', async () =>
    (await Promise.all([a, b].map(async x => await x.client.status()))).every(s => s.peers.some(p => p.id === goneId && !p.reachable)))

  // Several full listings by each agent while node-2 is still a node: nobody reclaims it.
  const before = kube.listings()
  await waitFor('more listings', () => kube.listings() >= before + 6)
  for (const x of [a, b]) expect((await x.client.report()).ring.removed).toEqual([])

  kube.nodes.delete('node-2')
  await waitFor('node-2 to be taken over and its space adopted', async () => {
    const reports = await Promise.all([a, b].map(async x => await x.client.report()))
    return reports.every(r => r.ring.removed.some(x => x.peer === goneId) && r.ring.entries.every(e => e.owner !== goneId))
  })
  const report = await a.client.report()
  expect(report.ring.removed).toHaveLength(1)
  const heir = report.ring.removed[0]!.heir
  expect([a, b].map(x => x.name)).toContain(report.status.peers.find(p => p.id === heir)?.nickname)
  const total = report.status.peers.reduce((sum, p) => sum + BigInt(p.addresses), 0n)
  expect(total.toString()).toBe(report.status.rangeSize)
  const said = (): LogLine[] => [a, b].flatMap(x => logEvents(x, 'peer-reclaimed'))
  await waitFor('the heir to log the reclaim', () => said().length > 0)
  expect(said()).toHaveLength(1)
  expect(said()[0]).toMatchObject({ target: goneId, targetNickname: 'node-2', why: 'its node was deleted' })
  expect(a.output.concat(b.output).filter(l => l.includes(TOKEN))).toEqual([])
})
