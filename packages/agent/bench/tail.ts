/**
 * Where the concurrency-1 tail of allocate comes from, in counts the load hardly moves and in an
 * attribution of the slowest requests. One real agent (consensus=1, the bench's flags) under the
 * inspector, warmed as bench/main.ts warms it (7,000 allocations at 16 and 64 in flight), then:
 *
 * - garbage: 1,000 allocations one at a time under V8's sampling heap profiler, objects young and
 *   full collections took included, summed by the site that made them (bundle positions mapped to
 *   sources through dist/weft.mjs.map when the bundle was built with WEFT_SOURCEMAP=1), beside the
 *   agent's young collections (weft_gc_pause_seconds);
 * - slowest: 1,000 more under the CPU profiler (100 µs samples) with the agent's GC pauses recorded
 *   through perf_hooks; each of the slowest 10 requests is told by what the agent's thread ran
 *   inside its span (the client's CLOCK_MONOTONIC span and V8's timestamps are the same clock).
 *
 * Usage: node packages/agent/bench/tail.ts [garbage|slowest ...]
 */
import { readFile } from 'node:fs/promises'
import { SourceMap } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Cluster, freePort, WEFT_BUNDLE, waitFor } from '@weft/testkit'
import { allocateStorm, buildAllocateClient } from './allocate-client.ts'
import type { Span } from './allocate-client.ts'
import { histogram, percentile, scrape } from './metrics.ts'

const WARM = [{ concurrency: 16, requests: 3_000 }, { concurrency: 64, requests: 4_000 }]
const TIMED = 1_000
const SLOWEST = 10

interface CallFrame { readonly functionName: string, readonly url: string, readonly lineNumber: number, readonly columnNumber: number }

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
class Inspector {
  readonly #ws: WebSocket
  #next = 1
  readonly #pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()

  private constructor (ws: WebSocket) {
    this.#ws = ws
    ws.addEventListener('message', ev => {
      const m = JSON.parse(String(ev.data)) as { id?: number, result?: unknown, error?: { message: string } }
      if (m.id === undefined) return
      const p = this.#pending.get(m.id)
      this.#pending.delete(m.id)
      if (m.error !== undefined) p?.reject(new Error(m.error.message))
      else p?.resolve(m.result)
    })
  }

  static async connect (url: string): Promise<Inspector> {
    const ws = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true })
      ws.addEventListener('error', () => reject(new Error(`inspector: cannot connect to ${url}`)), { once: true })
    })
    return new Inspector(ws)
  }

  async send<T> (method: string, params: object = {}): Promise<T> {
    const id = this.#next++
    const answer = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    this.#ws.send(JSON.stringify({ id, method, params }))
    return await answer as T
  }

  /** Evaluates `expression` in the agent; its value, which must be JSON. */
  async evaluate<T> (expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: T }, exceptionDetails?: { text: string } }>('Runtime.evaluate', { expression, returnByValue: true })
    if (r.exceptionDetails !== undefined) throw new Error(`inspector: ${expression.slice(0, 60)}: ${r.exceptionDetails.text}`)
    return r.result.value as T
  }

  close (): void {
    this.#ws.close()
  }
}

/** A source position as `file:line` (source-mapped when the bundle has its map), or Node's / V8's name. */
class Sites {
  readonly #map: SourceMap | null

  private constructor (map: SourceMap | null) {
    this.#map = map
  }

  static async load (): Promise<Sites> {
    const map = await readFile(`${WEFT_BUNDLE}.map`, 'utf8').then(t => new SourceMap(JSON.parse(t)), () => null)
    return new Sites(map)
  }

  of (f: CallFrame): string {
    const name = f.functionName === '' ? '(anonymous)' : f.functionName
    if (f.url === '') return name
    if (f.url.startsWith('node:')) return `${name} ${f.url}`
    const e = this.#map?.findEntry(f.lineNumber, f.columnNumber)
    if (e === undefined || !('originalSource' in e)) return `${name} ${f.url.split('/').at(-1)}:${f.lineNumber + 1}`
    const src = e.originalSource
    const nm = src.lastIndexOf('node_modules/')
    const short = nm >= 0 ? src.slice(nm + 'node_modules/'.length) : (/packages\/(.+)$/.exec(src)?.[1] ?? src)
    return `${name} ${short}:${e.originalLine + 1}`
  }

  /** Whether the frame is the project's own code (not a dependency's, not Node's). */
  ours (f: CallFrame): boolean {
    if (f.url === '' || f.url.startsWith('node:')) return false
    const e = this.#map?.findEntry(f.lineNumber, f.columnNumber)
    return e !== undefined && 'originalSource' in e && !e.originalSource.includes('node_modules/')
  }
}

interface HeapNode { readonly callFrame: CallFrame, readonly selfSize: number, readonly children: readonly HeapNode[] }

/** Sampled bytes per allocation by self site, and by the nearest frame of the project's own code. */
function garbageLines (head: HeapNode, sites: Sites, n: number): string[] {
  const self = new Map<string, number>()
  const owner = new Map<string, number>()
  const chain = new Map<string, number>()
  let total = 0
  const walk = (node: HeapNode, stack: readonly CallFrame[]): void => {
    const here = [...stack, node.callFrame]
    if (node.selfSize > 0) {
      total += node.selfSize
      const s = sites.of(node.callFrame)
      self.set(s, (self.get(s) ?? 0) + node.selfSize)
      const mine = here.findLast(f => sites.ours(f))
      const o = mine === undefined ? '(no frame of ours)' : sites.of(mine)
      owner.set(o, (owner.get(o) ?? 0) + node.selfSize)
      const c = here.slice(-4).reverse().map(f => sites.of(f)).join(' < ')
      chain.set(c, (chain.get(c) ?? 0) + node.selfSize)
    }
    for (const c of node.children) walk(c, here)
  }
  walk(head, [])
  const top = (m: Map<string, number>, k: number): string[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, k)
    .map(([s, bytes]) => `  ${(bytes / n).toFixed(0).padStart(6)} B  ${s}`)
  return [
    `sampled garbage per allocation: ${(total / n).toFixed(0)} B`,
    'by the site that made it:',
    ...top(self, 30),
    'by the nearest frame of ours:',
    ...top(owner, 30),
    'by the last four frames (callee first):',
    ...top(chain, 40).map(l => l.replace(/ < /g, '\n            < '))
  ]
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<{ readonly id: number, readonly callFrame: CallFrame, readonly children?: readonly number[] }>
  readonly startTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** For each span: the agent's GC pauses overlapping it and what its samples ran, by nearest frame of ours. */
function slowestLines (profile: CpuProfile, gcs: ReadonlyArray<readonly [number, number, number]>, spans: readonly Span[], sites: Sites): string[] {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const label = (id: number): string => {
    const f = byId.get(id)!.callFrame
    if (f.url === '' && f.functionName.startsWith('(')) return f.functionName
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const g = byId.get(at)!.callFrame
      if (sites.ours(g)) return sites.of(g)
    }
    return sites.of(f)
  }
  const times: number[] = []
  let t = profile.startTime
  for (const d of profile.timeDeltas) times.push((t += d))
  const order = spans.map((s, i) => i).sort((a, b) => (spans[b]!.end - spans[b]!.start) - (spans[a]!.end - spans[a]!.start))
  const lines: string[] = []
  for (const i of order.slice(0, SLOWEST)) {
    const s = spans[i]!
    const fromUs = s.start * 1000
    const toUs = s.end * 1000
    const ran = new Map<string, number>()
    for (let k = 0; k < times.length; k++) {
      if (times[k]! < fromUs || times[k]! > toUs) continue
      const l = label(profile.samples[k]!)
      const dt = (times[k + 1] ?? times[k]!) - times[k]!
      ran.set(l, (ran.get(l) ?? 0) + dt)
    }
    const gc = gcs.filter(([start, duration]) => start < s.end && start + duration > s.start)
      .map(([, duration, kind]) => `${kind === 1 ? 'young' : kind === 2 ? 'full' : kind === 4 ? 'incremental' : `kind ${kind}`} GC ${duration.toFixed(2)} ms`)
    const top = [...ran].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([l, us]) => `${(us / 1000).toFixed(2)} ${l}`)
    lines.push(`  #${i} ${(s.end - s.start).toFixed(2)} ms: ${gc.length === 0 ? 'no GC' : gc.join(', ')}; ran: ${top.join('; ')}`)
  }
  return lines
}

const modes = process.argv.slice(2)
const run = modes.length === 0 ? ['garbage', 'slowest'] : modes
const cluster = await Cluster.create('bench-tail')
let inspector: Inspector | null = null
try {
  const client = await buildAllocateClient(cluster.dir)
  const metricsPort = await freePort()
  const agent = await cluster.start({
    name: 'bench',
    env: { IPALLOC_INIT: 'consensus=1', WEFT_LOG_LEVEL: 'warn', WEFT_TICK_MS: '100', WEFT_METRICS_ADDR: `127.0.0.1:${metricsPort}`, NODE_OPTIONS: '--inspect=127.0.0.1:0' }
  })
  const inspectorUrl = (): string | undefined => agent.output.map(l => /Debugger listening on (ws:\S+)/.exec(l)?.[1]).find(u => u !== undefined)
  await waitFor('the inspector URL', () => inspectorUrl() !== undefined, 100)
  const url = inspectorUrl()!
  inspector = await Inspector.connect(url)
  const sites = await Sites.load()
  await agent.client.prime()
  for (const { concurrency, requests } of WARM) await allocateStorm(client, agent.socketPath, `warm-${concurrency}`, requests, concurrency)
  await allocateStorm(client, agent.socketPath, 'warm-1', 50, 1)
  for (const mode of run) {
    if (mode === 'garbage') {
      await inspector.send('HeapProfiler.enable')
      await inspector.send('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
      const before = histogram(await scrape(metricsPort), 'weft_gc_pause_seconds', 'kind="minor"')
      await allocateStorm(client, agent.socketPath, 'garbage', TIMED, 1)
      const after = histogram(await scrape(metricsPort), 'weft_gc_pause_seconds', 'kind="minor"')
      const { profile } = await inspector.send<{ profile: { head: HeapNode } }>('HeapProfiler.stopSampling')
      console.log(`young collections: ${after.count - before.count} in ${TIMED} allocations, mean ${(1000 * (after.sum - before.sum) / Math.max(1, after.count - before.count)).toFixed(3)} ms`)
      for (const l of garbageLines(profile.head, sites, TIMED)) console.log(l)
    } else if (mode === 'slowest') {
      // The agent's GC pauses, each as [start on CLOCK_MONOTONIC in ms, duration ms, kind].
      await inspector.evaluate(`(() => {
        const offset = Number(process.hrtime.bigint()) / 1e6 - performance.now()
        globalThis.__tailGcs = []
        globalThis.__tailObserver = new PerformanceObserver(list => { for (const e of list.getEntries()) globalThis.__tailGcs.push([e.startTime + offset, e.duration, e.detail?.kind ?? 0]) })
        globalThis.__tailObserver.observe({ entryTypes: ['gc'] })
        return true
      })()`)
      await inspector.send('Profiler.enable')
      await inspector.send('Profiler.setSamplingInterval', { interval: 100 })
      await inspector.send('Profiler.start')
      const spans = await allocateStorm(client, agent.socketPath, 'slowest', TIMED, 1)
      const { profile } = await inspector.send<{ profile: CpuProfile }>('Profiler.stop')
      const gcs = await inspector.evaluate<Array<[number, number, number]>>('(() => { globalThis.__tailObserver.disconnect(); return globalThis.__tailGcs })()')
      const sorted = spans.map(s => s.end - s.start).sort((a, b) => a - b)
      console.log(`${TIMED} allocations under the CPU profiler: p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms; agent GC pauses: ${gcs.length}`)
      console.log(`the slowest ${SLOWEST}:`)
      for (const l of slowestLines(profile, gcs, spans, sites)) console.log(l)
    } else {
      throw new Error(`unknown mode ${mode}: garbage or slowest`)
    }
  }
} finally {
  inspector?.close()
  await cluster.teardown()
}
