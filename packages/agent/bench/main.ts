/**
 * Agent benchmark: allocations per second and latency through the unix socket at several
 * concurrencies, every allocation in the store (its batch written: allocations to the pool's journal,
 * ring changes synced to LevelDB) before its answer; the persist step's share of a request at concurrency 1 beside the disk's own
 * write+fdatasync latency; and the agent process's RSS idle and holding 10k allocations. One real
 * agent process, consensus=1. The requests are made by allocate-client.c, a C program with one
 * connection per request as the CNI plugin makes them (it says why it is not Node). The
 * concurrency-1 storm is interleaved, block by block, with the same requests to a C echo of the
 * agent's answer: the machine's own floor for a connection per request, in the same minutes.
 */
import { Cluster, freePort } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { join } from 'node:path'
import { allocateStorm, buildAllocateClient, interleavedStorm } from './allocate-client.ts'
import type { Span } from './allocate-client.ts'
import { writeDatasyncLatencies } from './disk-sync.ts'
import { type Histogram, histogram, percentile, scrape } from './metrics.ts'
import { rssMiB } from './proc.ts'

/**
 * Run in this order, printed by concurrency: the concurrency-1 storm, whose tail is the figure, comes
 * last, on an agent that has served 7,000 allocations. A fresh agent's first few thousand meet V8
 * tiering its hot paths up (Maglev after about 500 calls, TurboFan after 3,000, compiling on threads
 * that take the request thread's CPU on 2 cores): 2-10 ms once in the agent's life, not its steady state.
 */
const LEVELS = [
  { concurrency: 16, requests: 3_000 },
  { concurrency: 64, requests: 4_000 },
  { concurrency: 1, requests: 1_000 }
]
const TOTAL_HELD = 10_000
/** The concurrency-1 storm's blocks, alternated with the floor's: 10 of each at 1,000 requests. */
const FLOOR_BLOCK = 100

/** What the c=1 lines read: the store's commits by durability, and the GC's pauses by kind. */
async function tailHistograms (metricsPort: number): Promise<{ written: Histogram, synced: Histogram, minorGc: Histogram, majorGc: Histogram, incrementalGc: Histogram }> {
  const text = await scrape(metricsPort)
  return {
    written: histogram(text, 'weft_store_commit_seconds', 'durability="written"'),
    synced: histogram(text, 'weft_store_commit_seconds', 'durability="synced"'),
    minorGc: histogram(text, 'weft_gc_pause_seconds', 'kind="minor"'),
    majorGc: histogram(text, 'weft_gc_pause_seconds', 'kind="major"'),
    incrementalGc: histogram(text, 'weft_gc_pause_seconds', 'kind="incremental"')
  }
}

/** How many between two scrapes, their mean, and the share within 0.5 and 1 ms. */
function histogramLine (before: Histogram, after: Histogram, what: string): string {
  const n = after.count - before.count
  if (n === 0) return 'none'
  const within = (le: string): string => (100 * ((after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0)) / n).toFixed(1)
  return `${n} ${what}, mean ${(1000 * (after.sum - before.sum) / n).toFixed(3)} ms, ${within('0.0005')} % within 0.5 ms, ${within('0.001')} % within 1 ms`
}

/** Latencies (ms, sorted). */
function latenciesOf (spans: readonly Span[]): number[] {
  return spans.map(s => s.end - s.start).sort((a, b) => a - b)
}

/** The wall time (s) of the spans, in order, block by block: the floor's blocks between them not counted. */
function wallSeconds (spans: readonly Span[], block: number): number {
  let ms = 0
  for (let from = 0; from < spans.length; from += block) {
    const part = spans.slice(from, from + block)
    ms += Math.max(...part.map(s => s.end)) - Math.min(...part.map(s => s.start))
  }
  return ms / 1000
}

/** Allocates `count` new attachments with `concurrency` requests in flight; returns latencies (ms, sorted) and wall time. */
async function storm (client: string, agent: AgentProcess, prefix: string, count: number, concurrency: number): Promise<{ latencies: number[], seconds: number }> {
  const spans = await allocateStorm(client, agent.socketPath, prefix, count, concurrency)
  return { latencies: latenciesOf(spans), seconds: wallSeconds(spans, count) }
}

/** The concurrency-1 storm, its blocks alternated with the floor's (allocate-client.c): the agent's as `storm`'s, and the floor's latencies. */
async function interleaved (client: string, agent: AgentProcess, floorSocket: string, prefix: string, count: number): Promise<{ latencies: number[], seconds: number, floor: number[] }> {
  const spans = await interleavedStorm(client, agent.socketPath, floorSocket, prefix, count, FLOOR_BLOCK)
  return { latencies: latenciesOf(spans.agent), seconds: wallSeconds(spans.agent, FLOOR_BLOCK), floor: latenciesOf(spans.floor) }
}

const cluster = await Cluster.create('bench')
try {
  const client = await buildAllocateClient(cluster.dir)
  const metricsPort = await freePort()
  const agent = await cluster.start({ name: 'bench', env: { IPALLOC_INIT: 'consensus=1', WEFT_LOG_LEVEL: 'warn', WEFT_TICK_MS: '100', WEFT_METRICS_ADDR: `127.0.0.1:${metricsPort}` } })
  await agent.client.prime()
  const pid = agent.child.pid ?? 0
  const idle = await rssMiB(pid)
  const rows: string[][] = []
  let held = 0
  const persist: string[] = []
  for (const { concurrency, requests } of LEVELS) {
    await storm(client, agent, `warm-${concurrency}`, 50, concurrency)
    const before = concurrency === 1 ? await tailHistograms(metricsPort) : null
    const { latencies, seconds, floor } = concurrency === 1
      ? await interleaved(client, agent, join(cluster.dir, 'floor.sock'), `c${concurrency}`, requests)
      : { ...await storm(client, agent, `c${concurrency}`, requests, concurrency), floor: null }
    if (before !== null && floor !== null) {
      const after = await tailHistograms(metricsPort)
      const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length
      persist.push(`  whole request (client side): mean ${mean.toFixed(3)} ms`)
      // The anchor, not a correction: what this host gives a connection per request in the same minutes,
      // and how many times that the agent's own tail is.
      const floorP99 = percentile(floor, 0.99)
      persist.push(`  this machine, unix-socket echo (C, a connection per request), interleaved: p50 ${percentile(floor, 0.5).toFixed(2)} ms, p99 ${floorP99.toFixed(2)} ms; the agent's p99 ${(percentile(latencies, 0.99) / floorP99).toFixed(1)} times it`)
      persist.push(`  persist step, written (allocations): ${histogramLine(before.written, after.written, 'batches')}`)
      persist.push(`  persist step, synced (ring, Paxos): ${histogramLine(before.synced, after.synced, 'batches')}`)
      // Each pause holds up whichever request is running: their count per 1000 requests is the share that pays one.
      persist.push(`  young-generation GC pauses: ${histogramLine(before.minorGc, after.minorGc, `in ${requests} requests`)}`)
      // A full collection (what young collections promote fills the old generation) and its incremental marking on the agent's thread.
      persist.push(`  full GC (mark-compact) pauses: ${histogramLine(before.majorGc, after.majorGc, `in ${requests} requests`)}; incremental marking: ${histogramLine(before.incrementalGc, after.incrementalGc, `in ${requests} requests`)}`)
      // The anchor, in the same minutes: what a synced batch per allocation would wait on.
      const disk = await writeDatasyncLatencies(cluster.dir, requests)
      persist.push(`  this disk, 100-byte write + fdatasync: p50 ${percentile(disk, 0.5).toFixed(2)} ms, p99 ${percentile(disk, 0.99).toFixed(2)} ms`)
    }
    held += requests + 50
    rows.push([String(concurrency), String(requests), (requests / seconds).toFixed(0), percentile(latencies, 0.5).toFixed(2), percentile(latencies, 0.99).toFixed(2)])
  }
  if (held < TOTAL_HELD) await storm(client, agent, 'fill', TOTAL_HELD - held, 64)
  const { allocations } = await agent.client.allocations()
  const full = await rssMiB(pid)

  const header = ['concurrency', 'requests', 'allocs/s', 'p50 ms', 'p99 ms']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ')
  console.log('weft agent: allocate over the unix socket, each answer after its batch is written (allocations journalled, ring changes synced)')
  console.log(line(header))
  for (const r of [...rows].sort((a, b) => Number(a[0]) - Number(b[0]))) console.log(line(r))
  console.log(`RSS idle: ${idle.toFixed(1)} MiB; with ${allocations.length} allocations: ${full.toFixed(1)} MiB`)
  console.log('concurrency 1, where the time goes:')
  for (const l of persist) console.log(l)
} finally {
  await cluster.teardown()
}
