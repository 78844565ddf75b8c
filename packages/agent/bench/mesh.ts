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
 * WEFT_BENCH_MESH_LOG_DIR a directory that gets each agent's whole log (the joiner's too, at that level),
 * WEFT_BENCH_MESH_SETTLE_S the quiet seconds between agreement and the idle window (10),
 * WEFT_BENCH_MESH_ENV extra env for every agent (`K=V,K=V`); with WEFT_BENCH_MESH_PROFILE=k the first k
 * agents run with --cpu-prof (their CPU then counts their profiler's) and each row ends with their
 * samples summed by source for each phase (last start to ready, ready to agreed, the idle window).
 * On stderr each row also shows how far apart the views were after ready (records, shares,
 * reachability) and the busiest idle agents beside the median one, their window cut in parts.
 */
import { createWriteStream } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildPlugin, Cluster, cniEnv, execPlugin, freePort, logLines, sleep, waitFor, waitForSocket, WEFT_CNI } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import type { StatusResponse } from '@weft/protocol'
import { envList } from './env-list.ts'
import { counters, histogram, scrape } from './metrics.ts'
import { closeCauses } from './mesh-closes.ts'
import { profileBySource } from './mesh-idle-profile.ts'
import { disagreement, viewGaps } from './mesh-views.ts'
import type { ViewGaps } from './mesh-views.ts'
import { CLK_TCK, median, pidOf, procSample, rssMiB, timed } from './proc.ts'
import type { ProcSample } from './proc.ts'

const SIZES = (process.env.WEFT_BENCH_MESH ?? '10,25,50').split(',').map(Number)
const PEER_LISTS = (process.env.WEFT_BENCH_MESH_PEERS ?? 'all,3').split(',')
/** The agents' log level; at `info` each row also says why connections closed and dials failed (mesh-closes.ts). */
const LOG_LEVEL = process.env.WEFT_BENCH_MESH_LOG ?? 'warn'
/** A directory to copy every agent's whole log into (`<N>-<peers>-<name>.log`), for reading after the run; none by default. */
const LOG_DIR = process.env.WEFT_BENCH_MESH_LOG_DIR
const EXTRA_ENV = envList(process.env.WEFT_BENCH_MESH_ENV)
const PROFILED = Number(process.env.WEFT_BENCH_MESH_PROFILE ?? '0')
/** Quiet time before the idle window (WEFT_BENCH_MESH_SETTLE_S, 10 s by default), and the window itself. */
const SETTLE_MS = 1000 * Number(process.env.WEFT_BENCH_MESH_SETTLE_S ?? '10')
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

/** How far apart the views were when a poll of every status ended, ms after ready; the poll's own ms (the slowest answer). */
interface Gaps { readonly atMs: number, readonly pollMs: number, readonly gaps: ViewGaps }

/**
 * Whether every view is the same, complete and with no peer unreachable; each change in how far
 * apart they are goes into `timeline`, to tell what the wait was made of.
 */
async function agreed (agents: readonly AgentProcess[], n: number, from: number, timeline: Gaps[]): Promise<boolean> {
  const asked = performance.now()
  const statuses = await Promise.all(agents.map(async a => await a.client.status()))
  const gaps = viewGaps(statuses, n)
  const last = timeline.at(-1)?.gaps
  if (last === undefined || last.records !== gaps.records || last.shares !== gaps.shares || last.unreachable !== gaps.unreachable) {
    timeline.push({ atMs: performance.now() - from, pollMs: performance.now() - asked, gaps })
  }
  const views = statuses.map(view)
  return views.every(v => v === views[0]) && !views[0]!.includes('unreachable') && views[0]!.split(',').length === n
}

/** The idle window cut in this many parts, to tell an agent busy throughout from a burst. */
const IDLE_PARTS = 3
/** The busiest agents described on stderr after each row, beside the median one. */
const BUSIEST = 3

/** The busiest agents and the median one over the idle window: CPU per part, wake-ups, bytes, connections. */
function idleLines (agents: readonly AgentProcess[], cpu: readonly number[], samples: ReadonlyArray<readonly ProcSample[]>,
  statuses: ReadonlyArray<StatusResponse | null>, percent: (from: number, to: number, i: number) => number,
  atWindow: readonly string[], afterWindow: readonly string[]): string[] {
  const order = agents.map((_, i) => i).sort((a, b) => cpu[b]! - cpu[a]!)
  const first = samples[0]!
  const last = samples.at(-1)!
  const s = IDLE_WINDOW_MS / 1000
  const describe = (i: number, label: string): string => {
    const parts = Array.from({ length: IDLE_PARTS }, (_, p) => percent(p, p + 1, i).toFixed(2))
    return `${label} ${agents[i]!.name}: ${cpu[i]!.toFixed(2)} % (${parts.join(' / ')} per ${IDLE_WINDOW_MS / IDLE_PARTS / 1000} s), ` +
      `${((last[i]!.wakeups - first[i]!.wakeups) / s).toFixed(1)} wake-ups/s, read ${((last[i]!.rchar - first[i]!.rchar) / s).toFixed(0)} B/s, ` +
      `written ${((last[i]!.wchar - first[i]!.wchar) / s).toFixed(0)} B/s, ${statuses[i]?.connections ?? '?'} connections; ` +
      `GC ${gcBetween(atWindow[i]!, afterWindow[i]!)}; messages ${messagesBetween(atWindow, afterWindow, [i])}`
  }
  return [...order.slice(0, BUSIEST).map((i, k) => describe(i, `idle, busiest ${k + 1}`)), describe(order[Math.floor(order.length / 2)]!, 'idle, median')]
}

/** Ring messages counted by the agents `who` between two scrapes of every agent's /metrics, by way and kind. */
function messagesBetween (from: readonly string[], to: readonly string[], who: readonly number[]): string {
  const sums = new Map<string, { count: number, bytes: number }>()
  for (const i of who) {
    const count0 = counters(from[i]!, 'weft_mesh_messages_total')
    const bytes0 = counters(from[i]!, 'weft_mesh_message_bytes_total')
    const bytes1 = counters(to[i]!, 'weft_mesh_message_bytes_total')
    for (const [labels, count] of counters(to[i]!, 'weft_mesh_messages_total')) {
      const key = [...labels.matchAll(/"([^"]*)"/g)].map(m => m[1]).join(' ')
      const sum = sums.get(key) ?? { count: 0, bytes: 0 }
      sums.set(key, { count: sum.count + count - (count0.get(labels) ?? 0), bytes: sum.bytes + (bytes1.get(labels) ?? 0) - (bytes0.get(labels) ?? 0) })
    }
  }
  const shown = [...sums].filter(([, v]) => v.count > 0).sort((a, b) => b[1].count - a[1].count)
  return shown.length === 0 ? 'none' : shown.map(([k, v]) => `${k} ${v.count} (${(v.bytes / 1024).toFixed(1)} KiB)`).join(', ')
}

/** The garbage collector's pauses between two scrapes of one agent: count and milliseconds per kind. */
function gcBetween (from: string, to: string): string {
  return ['major', 'incremental', 'minor'].map(kind => {
    const a = histogram(from, 'weft_gc_pause_seconds', `kind="${kind}"`)
    const b = histogram(to, 'weft_gc_pause_seconds', `kind="${kind}"`)
    return `${kind} ${b.count - a.count} (${((b.sum - a.sum) * 1000).toFixed(1)} ms)`
  }).join(', ')
}

/** The profiled agents stopped (V8 writes a profile at exit) and their samples summed by source for each phase but the settling. */
async function profiles (cluster: Cluster, profiled: readonly AgentProcess[], phases: ReadonlyArray<[string, bigint]>): Promise<string[]> {
  const lines: string[] = []
  for (const [i, a] of profiled.entries()) {
    await cluster.stop(a)
    const dir = join(cluster.dir, 'profiles', String(i))
    const file = (await readdir(dir).catch(() => [])).find(f => f.endsWith('.cpuprofile'))
    if (file === undefined) { lines.push(`${a.name}: no profile written`); continue }
    for (let p = 1; p < phases.length; p++) {
      if (phases[p]![0] === 'settling') continue
      lines.push(`${a.name} profile, ${phases[p]![0]}:`)
      for (const l of await profileBySource(join(dir, file), Number(phases[p - 1]![1]), Number(phases[p]![1]))) lines.push(`  ${l}`)
    }
  }
  return lines
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
    const env = { IPALLOC_INIT: `consensus=${n}`, WEFT_PEERS: listed.map(p => `127.0.0.1:${p}`).join(','), WEFT_LOG_LEVEL: LOG_LEVEL, ...EXTRA_ENV }
    const metricsPorts = await Promise.all(ports.map(async () => await freePort()))
    const agents = await Promise.all(ports.map(async (port, i) => await cluster.spawn({
      name: `m${String(i).padStart(2, '0')}`,
      port,
      env: {
        ...env,
        WEFT_METRICS_ADDR: `127.0.0.1:${metricsPorts[i]!}`,
        ...(i < PROFILED ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(cluster.dir, 'profiles', String(i))}` } : {})
      },
      timing: 'production'
    })))
    // Each agent's /metrics at the phases' ends, read outside the idle window's samples.
    const scrapeAll = async (): Promise<string[]> => await Promise.all(metricsPorts.map(async p => await scrape(p).catch(() => '')))
    for (const a of agents) copyLog(a, `${n}-${peers}-${a.name}.log`)
    await Promise.all(agents.map(async a => await waitForSocket(a, 1_200)))
    const atStart = await scrapeAll()
    const everyone = agents.map((_, i) => i)
    /** Each phase's end on the monotonic clock the profiles use, in µs. */
    const phases: Array<[string, bigint]> = [['start', process.hrtime.bigint() / 1000n]]
    const deadline = performance.now() + READY_BOUND_MS
    const ready = await timed(READY_BOUND_MS, async () => {
      await Promise.all(agents.map(async a => await primeUntilReady(a, deadline)))
      return (await Promise.all(agents.map(async a => await a.client.status()))).every(s => s.status === 'ready')
    })
    const atReady = await scrapeAll()
    phases.push(['last start to ready', process.hrtime.bigint() / 1000n])
    console.error(`mesh bench ${n} ${peers}: messages from the last start to ready, every agent: ${messagesBetween(atStart, atReady, everyone)}`)
    const readyAt = performance.now()
    const timeline: Gaps[] = []
    const agree = ready === null ? null : await timed(AGREE_BOUND_MS, async () => await agreed(agents, n, readyAt, timeline))
    if (ready !== null) {
      const gaps = timeline.map(t => `+${seconds(t.atMs)} s (poll ${seconds(t.pollMs)} s) ${t.gaps.records}/${t.gaps.shares}/${t.gaps.unreachable}`)
      console.error(`mesh bench ${n} ${peers}: after ready, records missing/shares apart/unreachable marks: ${gaps.join(', ')}`)
    }
    if (ready !== null && agree === null) {
      // Why not: which lines differ, and who marks whom unreachable.
      // A starved agent may not answer at all: named, and the others' views compared.
      const answers = await Promise.all(agents.map(async a => await a.client.status().catch(() => null)))
      const silent = agents.filter((_, i) => answers[i] === null).map(a => a.name)
      if (silent.length > 0) console.error(`mesh bench ${n} ${peers}: no status from ${silent.join(', ')}`)
      const statuses = answers.filter((s): s is StatusResponse => s !== null)
      for (const l of disagreement(statuses)) console.error(`mesh bench ${n} ${peers}: ${l}`)
    }
    const atAgreed = await scrapeAll()
    phases.push(['ready to agreed', process.hrtime.bigint() / 1000n])
    if (ready !== null) console.error(`mesh bench ${n} ${peers}: messages from ready to agreed, every agent: ${messagesBetween(atReady, atAgreed, everyone)}`)
    const rss = await Promise.all(agents.map(async a => await rssMiB(pidOf(a))))
    await sleep(SETTLE_MS)
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0]!
    const atWindow = await scrapeAll()
    const windowFrom = new Date()
    phases.push(['settling', process.hrtime.bigint() / 1000n])
    const samples = [await Promise.all(agents.map(async a => await procSample(pidOf(a))))]
    for (let part = 0; part < IDLE_PARTS; part++) {
      await sleep(IDLE_WINDOW_MS / IDLE_PARTS)
      samples.push(await Promise.all(agents.map(async a => await procSample(pidOf(a)))))
    }
    /** Agent i's CPU, % of a core, from the end of part `from` of the window to the end of part `to`. */
    const percent = (from: number, to: number, i: number): number =>
      100 * (samples[to]![i]!.cpuTicks - samples[from]![i]!.cpuTicks) / CLK_TCK / ((to - from) * IDLE_WINDOW_MS / IDLE_PARTS / 1000)
    const cpu = agents.map((_, i) => percent(0, IDLE_PARTS, i))
    phases.push(['idle window', process.hrtime.bigint() / 1000n])
    const afterWindow = await scrapeAll()
    const statuses = await Promise.all(agents.map(async a => await a.client.status().catch(() => null)))
    console.error(`mesh bench ${n} ${peers}: idle window ${windowFrom.toISOString()} to ${new Date().toISOString()}`)
    for (const line of idleLines(agents, cpu, samples, statuses, percent, atWindow, afterWindow)) console.error(`mesh bench ${n} ${peers}: ${line}`)
    const joined = await firstAdd(cluster, n, agents.slice(0, 3))
    for (const l of await profiles(cluster, agents.slice(0, PROFILED), phases)) console.error(`mesh bench ${n} ${peers}: ${l}`)
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
      join: bounded(joined, JOIN_BOUND_MS),
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
