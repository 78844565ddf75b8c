/**
 * Where an idle agent's CPU goes: N real agents on loopback at the shipped timing (every one listed
 * in WEFT_PEERS, `consensus=N`), primed, left to agree and settle, then watched over an idle window:
 * per agent, CPU (% of one core), wake-ups of its main thread per second (voluntary context
 * switches: each is one return from the event loop's wait) and bytes per second read and written
 * (rchar/wchar: every socket, the store and the log). With WEFT_BENCH_IDLE_PROFILE=k the first k
 * agents run with --cpu-prof, are stopped after the window so V8 writes the profile, and the samples
 * taken inside the window are summed by the source they ran in (mesh-idle-profile.ts; by source file
 * when the bundle was built with its source map: `WEFT_SOURCEMAP=1 bash scripts/build-weft.sh`).
 * WEFT_BENCH_IDLE sets the size (default 10), WEFT_BENCH_IDLE_PEERS the peer list (`all`, the
 * default, or the first k), WEFT_BENCH_IDLE_ENV extra agent env (`K=V,K=V`), WEFT_BENCH_IDLE_AB env
 * for every second agent only: the two halves are then reported apart, measured side by side under
 * the same load (a loaded machine makes every wake-up dearer, so runs apart compare badly).
 */
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Cluster, freePort, sleep } from '@weft/testkit'
import { envList } from './env-list.ts'
import { profileBySource } from './mesh-idle-profile.ts'
import { CLK_TCK, median, pidOf, procSample, timed } from './proc.ts'
import type { ProcSample } from './proc.ts'

const N = Number(process.env.WEFT_BENCH_IDLE ?? '10')
const PROFILED = Number(process.env.WEFT_BENCH_IDLE_PROFILE ?? '0')
const PEERS = process.env.WEFT_BENCH_IDLE_PEERS ?? 'all'
const EXTRA_ENV = envList(process.env.WEFT_BENCH_IDLE_ENV)
const AB_ENV = envList(process.env.WEFT_BENCH_IDLE_AB)
const AB = Object.keys(AB_ENV).length > 0
const SETTLE_MS = 10_000
const IDLE_WINDOW_MS = 30_000
const READY_BOUND_MS = 300_000
const AGREE_BOUND_MS = 120_000
/** Between two status polls of every agent while waiting for ready and for agreement. */
const POLL_MS = 500

const cluster = await Cluster.create(`bench-idle-${N}`)
try {
  const profileDir = join(cluster.dir, 'profiles')
  await mkdir(profileDir, { recursive: true })
  const ports = await Promise.all(Array.from({ length: N }, async () => await freePort()))
  const env = { IPALLOC_INIT: `consensus=${N}`, WEFT_PEERS: (PEERS === 'all' ? ports : ports.slice(0, Number(PEERS))).map(p => `127.0.0.1:${p}`).join(','), WEFT_LOG_LEVEL: 'warn', ...EXTRA_ENV }
  const agents = await Promise.all(ports.map(async (port, i) => await cluster.start({
    name: `i${String(i).padStart(2, '0')}`,
    port,
    timing: 'production',
    env: {
      ...env,
      ...(AB && i % 2 === 1 ? AB_ENV : {}),
      ...(i < PROFILED ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(profileDir, String(i))}` } : {})
    }
  })))
  const ready = await timed(READY_BOUND_MS, async () => {
    await Promise.all(agents.map(async a => await a.client.prime().catch(() => undefined)))
    return (await Promise.all(agents.map(async a => await a.client.status()))).every(s => s.status === 'ready')
  }, POLL_MS)
  const agree = ready === null
    ? null
    : await timed(AGREE_BOUND_MS, async () => (await Promise.all(agents.map(async a => await a.client.status())))
      .every(s => s.peers.length === N && s.peers.every(p => p.reachable)), POLL_MS)
  const conns = (await Promise.all(agents.map(async a => (await a.client.status()).connections)))
  await sleep(SETTLE_MS)
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
  const t0 = process.hrtime.bigint()
  const before = await Promise.all(agents.map(async a => await procSample(pidOf(a))))
  await sleep(IDLE_WINDOW_MS)
  const after = await Promise.all(agents.map(async a => await procSample(pidOf(a))))
  const t1 = process.hrtime.bigint()
  const loadAfter = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
  const s = IDLE_WINDOW_MS / 1000
  const fmt = (xs: number[], d: number): string => `median ${median(xs).toFixed(d)} max ${Math.max(...xs).toFixed(d)}`
  console.log(`idle ${N} agents, WEFT_PEERS ${PEERS}: ready ${ready === null ? '>bound' : (ready / 1000).toFixed(1)} s, all reachable ${agree === null ? '>bound' : (agree / 1000).toFixed(1)} s later, connections ${fmt(conns, 0)}; load ${load} -> ${loadAfter}`)
  // The profiled agents' own figures count their profiler's sampling: left out, unless every agent is profiled.
  const counted = (i: number): boolean => i >= PROFILED || PROFILED >= N
  const groups = AB ? [[0, 'as configured'], [1, process.env.WEFT_BENCH_IDLE_AB!]] as const : [[null, 'every agent']] as const
  for (const [parity, label] of groups) {
    const who = agents.map((_, i) => i).filter(i => counted(i) && (parity === null || i % 2 === parity))
    const per = (f: (b: ProcSample, a: ProcSample) => number): number[] => who.map(i => f(before[i]!, after[i]!))
    console.log(`  ${label} (${who.length} agents${PROFILED > 0 && PROFILED < N ? ', the profiled left out' : ''}):`)
    console.log(`    CPU % of a core: ${fmt(per((b, a) => 100 * (a.cpuTicks - b.cpuTicks) / CLK_TCK / s), 2)}`)
    console.log(`    main-thread wake-ups/s: ${fmt(per((b, a) => (a.wakeups - b.wakeups) / s), 1)}`)
    console.log(`    bytes read/s: ${fmt(per((b, a) => (a.rchar - b.rchar) / s), 0)}; written/s: ${fmt(per((b, a) => (a.wchar - b.wchar) / s), 0)}`)
  }
  for (let i = 0; i < PROFILED; i++) await cluster.stop(agents[i]!)
  for (let i = 0; i < PROFILED; i++) {
    const dir = join(profileDir, String(i))
    const files = await readdir(dir).catch(() => [])
    const main = files.find(f => f.endsWith('.cpuprofile'))
    if (main === undefined) { console.log(`  agent ${i}: no profile written`); continue }
    const lines = await profileBySource(join(dir, main), Number(t0 / 1000n), Number(t1 / 1000n))
    console.log(`  agent ${i} profile (${files.length} file(s)):`)
    for (const l of lines) console.log(`    ${l}`)
  }
} finally {
  await cluster.teardown()
}
