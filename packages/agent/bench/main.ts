/**
 * Agent benchmark: allocations per second and latency through the unix socket at several
 * concurrencies, every allocation durably committed (synced LevelDB batch) before its answer; and
 * the agent process's RSS idle and holding 10k allocations. One real agent process, consensus=1.
 */
import { readFile } from 'node:fs/promises'
import { Cluster, inParallel } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

const LEVELS = [
  { concurrency: 1, requests: 1_000 },
  { concurrency: 16, requests: 3_000 },
  { concurrency: 64, requests: 4_000 }
]
const TOTAL_HELD = 10_000

async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN)
  return kb / 1024
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

/** Allocates `count` new attachments with `concurrency` requests in flight; returns latencies (ms) and wall time. */
async function storm (agent: AgentProcess, prefix: string, count: number, concurrency: number): Promise<{ latencies: number[], seconds: number }> {
  const started = performance.now()
  const latencies = await inParallel(count, concurrency, async i => {
    const t = performance.now()
    await agent.client.allocate({ network: 'weft', containerId: `${prefix}-${i}`, ifname: 'eth0' })
    return performance.now() - t
  })
  return { latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000 }
}

const cluster = await Cluster.create('bench')
try {
  const agent = await cluster.start({ name: 'bench', env: { IPALLOC_INIT: 'consensus=1', WEFT_LOG_LEVEL: 'warn', WEFT_TICK_MS: '100' } })
  await agent.client.prime()
  const pid = agent.child.pid ?? 0
  const idle = await rssMiB(pid)
  const rows: string[][] = []
  let held = 0
  for (const { concurrency, requests } of LEVELS) {
    await storm(agent, `warm-${concurrency}`, 50, concurrency)
    const { latencies, seconds } = await storm(agent, `c${concurrency}`, requests, concurrency)
    held += requests + 50
    rows.push([String(concurrency), String(requests), (requests / seconds).toFixed(0), percentile(latencies, 0.5).toFixed(2), percentile(latencies, 0.99).toFixed(2)])
  }
  if (held < TOTAL_HELD) await storm(agent, 'fill', TOTAL_HELD - held, 64)
  const { allocations } = await agent.client.allocations()
  const full = await rssMiB(pid)

  const header = ['concurrency', 'requests', 'allocs/s', 'p50 ms', 'p99 ms']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ')
  console.log('weft agent: allocate over the unix socket, each answer after a synced LevelDB batch')
  console.log(line(header))
  for (const r of rows) console.log(line(r))
  console.log(`RSS idle: ${idle.toFixed(1)} MiB; with ${allocations.length} allocations: ${full.toFixed(1)} MiB`)
} finally {
  await cluster.teardown()
}
