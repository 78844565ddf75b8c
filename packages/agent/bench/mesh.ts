/**
 * Mesh benchmark: N real agent processes on loopback at the shipped timing, `consensus=N`, every
 * agent primed at once; WEFT_PEERS lists every agent, or only the first three. Per row: seconds from
 * the last start (its socket answers) until every agent is ready; RSS median and max; idle CPU per
 * agent (median and max, % of one core over IDLE_WINDOW_MS, from /proc/<pid>/stat); seconds from ready
 * until every agent's `status ipam` view is the same with no peer unreachable; and a joining agent's
 * first CNI ADD through the plugin, seconds from its start; and the machine's load average then.
 * When the views do not agree within the bound, what differs goes to stderr (mesh-views.ts).
 * WEFT_BENCH_MESH sets the sizes (default 10,25,50), WEFT_BENCH_MESH_PEERS the peer lists (all,3),
 * WEFT_BENCH_MESH_LOG the agents' log level (warn; at info, why connections closed: mesh-closes.ts),
 * WEFT_BENCH_MESH_LOG_DIR a directory that gets each agent's whole log (the joiner's too, at that level).
 */
import { createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildPlugin, Cluster, cniEnv, execPlugin, freePort, logLines, sleep, waitFor, waitForSocket, WEFT_CNI } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import type { StatusResponse } from '@weft/protocol'
import { closeCauses } from './mesh-closes.ts'
import { disagreement } from './mesh-views.ts'
import { CLK_TCK, cpuTicks, median, pidOf, rssMiB, timed } from './proc.ts'

const SIZES = (process.env.WEFT_BENCH_MESH ?? '10,25,50').split(',').map(Number)
const PEER_LISTS = (process.env.WEFT_BENCH_MESH_PEERS ?? 'all,3').split(',')
/** The agents' log level; at `info` each row also says why connections closed and dials failed (mesh-closes.ts). */
const LOG_LEVEL = process.env.WEFT_BENCH_MESH_LOG ?? 'warn'
/** A directory to copy every agent's whole log into (`<N>-<peers>-<name>.log`), for reading after the run; none by default. */
const LOG_DIR = process.env.WEFT_BENCH_MESH_LOG_DIR
/** Quiet time before the idle window, and the window itself. */
const SETTLE_MS = 10_000
const IDLE_WINDOW_MS = 30_000
/** Bounds on each phase; a phase that does not finish shows as `>bound`. */
const READY_BOUND_MS = 300_000
const AGREE_BOUND_MS = 120_000
const JOIN_BOUND_MS = 120_000

interface Row {
  readonly n: number
  readonly peers: string
  readonly ready: string
  readonly rssMedian: number
  readonly rssMax: number
  readonly cpuMedian: number
  readonly cpuMax: number
  readonly agree: string
  readonly join: string
  /** The machine's 1-minute load average when the idle window began (other work shares it). */
  readonly load: string
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1)

/** Every line the agent writes from now on, also into LOG_DIR (the process keeps only its last lines). */
function copyLog (a: AgentProcess, file: string): void {
  if (LOG_DIR === undefined) return
  const out = createWriteStream(join(LOG_DIR, file))
  a.child.stdout?.pipe(out, { end: false })
  a.child.stderr?.pipe(out, { end: false })
  a.child.once('close', () => out.end())
}

/** One agent's `status ipam` as a comparable string: every peer, its share, and whether reachable. */
const view = (s: StatusResponse): string =>
  s.peers.map(p => `${p.id}:${p.nickname}:${p.addresses}:${p.reachable ? 'up' : 'unreachable'}`).sort().join(',')

async function agreed (agents: readonly AgentProcess[], n: number): Promise<boolean> {
  const views = (await Promise.all(agents.map(async a => await a.client.status()))).map(view)
  return views.every(v => v === views[0]) && !views[0]!.includes('unreachable') && views[0]!.split(',').length === n
}

async function primeUntilReady (a: AgentProcess, deadline: number): Promise<void> {
  while (performance.now() < deadline) {
    if (await a.client.prime().then(() => true, () => false)) return
    await sleep(500)
  }
}

/** The joiner's first ADD through the CNI plugin, retried until it succeeds; ms from the joiner's start. */
async function firstAdd (cluster: Cluster, n: number, seeds: readonly AgentProcess[]): Promise<number | null> {
  const started = performance.now()
  const joiner = await cluster.spawn({
    name: 'joiner',
    timing: 'production',
    env: { IPALLOC_INIT: `consensus=${n + 1}`, WEFT_PEERS: seeds.map(a => `127.0.0.1:${a.port}`).join(','), WEFT_LOG_LEVEL: LOG_DIR === undefined ? 'warn' : LOG_LEVEL }
  })
  copyLog(joiner, `${n}-joiner.log`)
  await waitForSocket(joiner, 1_200)
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'weft', ipam: { type: 'weft', socket: joiner.socketPath } })
  const env = cniEnv({ command: 'ADD', containerId: 'joiner-first', ifname: 'eth0', netns: '/var/run/netns/bench-joiner' })
  const ms = await timed(JOIN_BOUND_MS, async () => (await execPlugin(WEFT_CNI, env, conf)).code === 0)
  return ms === null ? null : performance.now() - started
}

async function run (n: number, peers: string): Promise<Row> {
  const cluster = await Cluster.create(`bench-mesh-${n}`)
  try {
    const ports = await Promise.all(Array.from({ length: n }, async () => await freePort()))
    const listed = peers === 'all' ? ports : ports.slice(0, Number(peers))
    const env = { IPALLOC_INIT: `consensus=${n}`, WEFT_PEERS: listed.map(p => `127.0.0.1:${p}`).join(','), WEFT_LOG_LEVEL: LOG_LEVEL }
    const agents = await Promise.all(ports.map(async (port, i) => await cluster.spawn({ name: `m${String(i).padStart(2, '0')}`, port, env, timing: 'production' })))
    for (const a of agents) copyLog(a, `${n}-${peers}-${a.name}.log`)
    await Promise.all(agents.map(async a => await waitForSocket(a, 1_200)))
    const deadline = performance.now() + READY_BOUND_MS
    const ready = await timed(READY_BOUND_MS, async () => {
      await Promise.all(agents.map(async a => await primeUntilReady(a, deadline)))
      return (await Promise.all(agents.map(async a => await a.client.status()))).every(s => s.status === 'ready')
    })
    const agree = ready === null ? null : await timed(AGREE_BOUND_MS, async () => await agreed(agents, n))
    if (ready !== null && agree === null) {
      // Why not: which lines differ, and who marks whom unreachable.
      const statuses = await Promise.all(agents.map(async a => await a.client.status()))
      for (const l of disagreement(statuses)) console.error(`mesh bench ${n} ${peers}: ${l}`)
    }
    const rss = await Promise.all(agents.map(async a => await rssMiB(pidOf(a))))
    await sleep(SETTLE_MS)
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0]!
    const before = await Promise.all(agents.map(async a => await cpuTicks(pidOf(a))))
    await sleep(IDLE_WINDOW_MS)
    const after = await Promise.all(agents.map(async a => await cpuTicks(pidOf(a))))
    const cpu = after.map((t, i) => 100 * (t - before[i]!) / CLK_TCK / (IDLE_WINDOW_MS / 1000))
    const join = await firstAdd(cluster, n, agents.slice(0, 3))
    if (LOG_LEVEL === 'info') for (const l of closeCauses(agents.map(logLines))) console.error(`mesh bench ${n} ${peers}: ${l}`)
    const bounded = (ms: number | null, bound: number): string => ms === null ? `>${seconds(bound)}` : seconds(ms)
    return {
      n,
      peers: peers === 'all' ? 'all' : `first ${peers}`,
      ready: bounded(ready, READY_BOUND_MS),
      rssMedian: median(rss),
      rssMax: Math.max(...rss),
      cpuMedian: median(cpu),
      cpuMax: Math.max(...cpu),
      agree: bounded(agree, AGREE_BOUND_MS),
      join: bounded(join, JOIN_BOUND_MS),
      load
    }
  } finally {
    await cluster.teardown()
  }
}

await buildPlugin()
const header = ['agents', 'WEFT_PEERS', 'ready s', 'RSS median MiB', 'RSS max MiB', 'idle CPU median %', 'idle CPU max %', 'agree s', 'joiner ADD s', 'load']
const rows: string[][] = []
for (const n of SIZES) {
  for (const peers of PEER_LISTS) {
    const r = await run(n, peers)
    rows.push([String(r.n), r.peers, r.ready, r.rssMedian.toFixed(0), r.rssMax.toFixed(0), r.cpuMedian.toFixed(2), r.cpuMax.toFixed(2), r.agree, r.join, r.load])
    console.error(`mesh bench: ${rows.at(-1)!.join('  ')}`)
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
const line = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ')
console.log('weft mesh: real agents on loopback, consensus=N, every agent primed at once; idle CPU is % of one core per agent')
console.log(line(header))
for (const r of rows) console.log(line(r))
