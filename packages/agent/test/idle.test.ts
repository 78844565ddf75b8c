/**
 * An idle agent at the shipped timing: once nothing has happened for the ticker's IDLE_AFTER_MS its
 * core's clock wakes once a second, not ten times (ticker.ts), and it still answers at once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { Cluster, onlyAddress, sleep } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { IDLE_AFTER_MS } from '../src/ticker.ts'

/** Returns from the event loop's wait of the agent's main thread (its voluntary context switches). */
async function wakeups (a: AgentProcess): Promise<number> {
  const status = await readFile(`/proc/${a.child.pid ?? 0}/task/${a.child.pid ?? 0}/status`, 'utf8')
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? NaN)
}

let cluster: Cluster
let agent: AgentProcess
beforeAll(async () => {
  cluster = await Cluster.create('idle')
  agent = await cluster.start({ name: 'idle', timing: 'production', env: { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.41.0.0/24' } })
  await agent.client.prime()
})
afterAll(async () => { await cluster.teardown() })

it.runIf(process.platform === 'linux')('wakes a few times a second once idle, and still answers an allocation then', async () => {
  await sleep(IDLE_AFTER_MS + 2_000)
  const before = await wakeups(agent)
  await sleep(5_000)
  const rate = (await wakeups(agent) - before) / 5
  // Ticking every 100 ms it woke 12.5 times a second; slowed, about 2.5 (its clock, gossipsub's two timers, the dial loop, the socket's sweep).
  expect(rate).toBeLessThan(6)
  const r = await agent.client.allocate({ network: 'weft', containerId: 'after-idle', ifname: 'eth0' })
  expect(onlyAddress(r).address.startsWith('10.41.0.')).toBe(true)
}, 60_000)
