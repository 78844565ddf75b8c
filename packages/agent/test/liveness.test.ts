/**
 * Liveness with real agent processes: a peer that stops answering while its TCP connection stays
 * open (SIGSTOP: the kernel still acknowledges, nothing above it answers, as in a silent partition)
 * is dropped by the pings and shown unreachable, and it is reachable again once it answers; the
 * stopped agent, once running again, does not take its own stall for its peer's silence.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Cluster, freePort, logEvents, waitFor, waitForSocket } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
let a: AgentProcess
let b: AgentProcess

beforeAll(async () => {
  cluster = await Cluster.create('liveness')
  const ports = [await freePort(), await freePort()]
  const env = { IPALLOC_RANGE: '10.46.0.0/16', IPALLOC_INIT: 'consensus=2', WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(',') }
  a = await cluster.spawn({ name: 'l0', port: ports[0]!, env })
  b = await cluster.spawn({ name: 'l1', port: ports[1]!, env })
  await Promise.all([a, b].map(async x => await waitForSocket(x)))
})
afterAll(async () => {
  // A stopped process is killed as it is, but may hold the test's sockets open until then.
  b.child.kill('SIGCONT')
  await cluster.teardown()
})

const sees = async (from: AgentProcess, peer: string): Promise<boolean> =>
  (await from.client.status()).peers.find(p => p.id === peer)?.reachable === true

it('drops a connection whose peer stops answering, and is reachable again once it answers', async () => {
  for (const x of [a, b]) void x.client.prime().catch(() => undefined)
  await waitFor('both ready', async () => (await Promise.all([a, b].map(async x => await x.client.status()))).every(s => s.status === 'ready'), 120, 500)
  const bId = (await b.client.status()).peer.id
  const aId = (await a.client.status()).peer.id
  await waitFor('a reaches b', async () => await sees(a, bId), 120, 500)

  b.child.kill('SIGSTOP')
  // Ping interval 1 s (the test timing), 10 s for an answer: well inside the bound.
  await waitFor('a to show b unreachable', async () => !(await sees(a, bId)), 120, 500)
  expect(logEvents(a, 'peer-silent').length).toBeGreaterThan(0)

  b.child.kill('SIGCONT')
  await waitFor('each to reach the other again', async () => await sees(a, bId) && await sees(b, aId), 120, 500)
  // b itself was kept from running, not left unheard: on waking it counts that as its own stall.
  expect(logEvents(b, 'peer-silent')).toEqual([])
}, 180_000)
