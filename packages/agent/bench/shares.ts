/**
 * Even shares with real agent processes on loopback: 3 agents (consensus=3), then one joining at a
 * time up to 6 and on to 10; then, in fresh clusters, 10 agents started at once (consensus=10) while
 * a busy loop runs on every core. After each step it waits (bounded) until every agent shows the same
 * shares, each within 10 % of the mean, and prints what `weft status ipam` prints, the spread, the
 * seconds it took, and for the simultaneous starts how many peers the decided split included.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { promisify } from 'node:util'
import type { StatusResponse } from '@weft/protocol'
import { Cluster, WEFT_BUNDLE, evenWithin, freePort, inParallel, spreadOf, startMesh, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

const RANGE_SIZE = 1n << 20n
const TOLERANCE = 0.1
const PODS = 20
const LOADED_RUNS = 3
/** A busy loop never outlives this, whatever happens to the bench. */
const LOAD_MAX_S = 300

const run = promisify(execFile)

async function ipam (agent: AgentProcess): Promise<string> {
  const { stdout } = await run(process.execPath, [WEFT_BUNDLE, 'status', 'ipam', '--socket', agent.socketPath])
  return stdout.trimEnd()
}

async function pods (agent: AgentProcess): Promise<void> {
  await inParallel(PODS, 4, async i => await agent.client.allocate({ network: 'weft', containerId: `${agent.name}-${i}`, ifname: 'eth0' }))
}

const key = (s: StatusResponse): string => s.peers.map(p => `${p.id}=${p.addresses}`).sort().join()

/** Waits until all agree on even shares over all of them; prints the step. */
async function report (label: string, agents: readonly AgentProcess[], since: number): Promise<void> {
  let last: StatusResponse[] = []
  let settled = true
  try {
    await waitFor(`${label}: even shares`, async () => {
      last = await Promise.all(agents.map(async a => await a.client.status()))
      return last.every(s => key(s) === key(last[0]!) && evenWithin(spreadOf(s), agents.length, RANGE_SIZE, TOLERANCE))
    }, 1200, 100)
  } catch { settled = false }
  const spread = spreadOf(last[0]!)
  const seconds = ((performance.now() - since) / 1000).toFixed(1)
  console.log(`\n== ${label}: ${spread.owners} owners, max/mean ${spread.maxRatio.toFixed(3)}, min/mean ${spread.minRatio.toFixed(3)}, ` +
    `${settled ? `even within ${TOLERANCE * 100} % after ${seconds} s` : `NOT even after ${seconds} s`}`)
  console.log(await ipam(agents[0]!))
}

async function oneByOne (): Promise<void> {
  const cluster = await Cluster.create('bench-shares')
  try {
    const since = performance.now()
    const agents = await startMesh(cluster, ['n01', 'n02', 'n03'], { WEFT_LOG_LEVEL: 'warn' })
    for (const a of agents) await pods(a)
    await report('3 agents, consensus=3', agents, since)
    for (let n = 4; n <= 10; n++) {
      const t = performance.now()
      const joiner = await cluster.start({ name: `n${String(n).padStart(2, '0')}`, env: { WEFT_PEERS: agents.map(a => a.addr).join(','), IPALLOC_INIT: `consensus=${n}`, WEFT_LOG_LEVEL: 'warn' } })
      agents.push(joiner)
      await pods(joiner)
      await report(`${n} agents: n${String(n).padStart(2, '0')} joined`, agents, t)
    }
  } finally { await cluster.teardown() }
}

async function primeWithin (agent: AgentProcess, attempts: number): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await agent.client.prime()
      return
    } catch (err) {
      if (i >= attempts || (err as { retryable?: boolean }).retryable !== true) throw err
    }
  }
}

function busyLoops (): ChildProcess[] {
  return Array.from({ length: availableParallelism() }, () =>
    spawn(process.execPath, ['-e', `const end = Date.now() + ${LOAD_MAX_S * 1000}; while (Date.now() < end) {}`], { stdio: 'ignore' }))
}

async function loadedStart (runIndex: number): Promise<void> {
  const cluster = await Cluster.create('bench-shares-load')
  const load = busyLoops()
  try {
    const ports = await Promise.all(Array.from({ length: 10 }, async () => await freePort()))
    const env = { IPALLOC_INIT: 'consensus=10', WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(','), WEFT_LOG_LEVEL: 'warn' }
    const since = performance.now()
    const agents = await Promise.all(ports.map(async (port, i) => await cluster.start({ name: `l${String(i + 1).padStart(2, '0')}`, port, env })))
    // A loaded machine may take longer than one prime's wait (the request timeout): ask again, boundedly.
    await Promise.all(agents.map(async a => await primeWithin(a, 5)))
    const ready = ((performance.now() - since) / 1000).toFixed(1)
    const seeds = (await agents[0]!.client.report()).ring.seeds.length
    console.log(`\n== 10 agents started at once under load (${load.length} busy loops), run ${runIndex}: the decided split includes ${seeds} of 10, all ready after ${ready} s`)
    console.log(await ipam(agents[0]!))
    await report(`10 agents under load, run ${runIndex}, after the quiet period`, agents, since)
  } finally {
    for (const p of load) p.kill('SIGKILL')
    await cluster.teardown()
  }
}

await oneByOne()
for (let i = 1; i <= LOADED_RUNS; i++) await loadedStart(i)
