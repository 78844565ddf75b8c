/**
 * Prometheus metrics. Gauges are read from a snapshot at scrape time; counters and the commit
 * histogram are fed by the agent. Weave's metric names are exported too, so existing dashboards work.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { HostPort } from './config.ts'
import type { Durability } from './store.ts'

export interface GaugeSnapshot {
  readonly localUsed: number
  /** Addresses in the whole range. */
  readonly maxIps: number
  readonly unreachableCount: number
  readonly unreachablePercentage: number
  readonly pendingAllocates: number
  readonly pendingClaims: number
}

/** perf_hooks' GC kinds, as the metric labels them. */
const GC_KINDS: ReadonlyMap<number, string> = new Map([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb']
])

/** How a message crossed the mesh, as the message counters label it. */
export type MessageWay = 'published' | 'sent' | 'received'

export class Metrics {
  readonly registry = new Registry()
  #badMessages = 0
  readonly #conflictCounter: Counter
  readonly #badMessageCounter: Counter
  readonly #reclaimCounter: Counter
  readonly #newerCounter: Counter
  /**
   * The commit histogram's two series, bound once: observing through the histogram itself made a
   * labels object and a closure per batch, garbage on every allocation's path (about 170 bytes).
   */
  readonly #commitSeconds: Readonly<Record<Exclude<Durability, 'empty'>, { observe: (seconds: number) => void }>>
  readonly #gcSeconds: Histogram<'kind'>
  readonly #messages: Counter<'way' | 'kind'>
  readonly #messageBytes: Counter<'way' | 'kind'>
  /** The two message series of each (way, kind), bound once: a labels object per message is garbage. */
  readonly #messageSeries = new Map<string, { readonly count: Counter.Internal, readonly bytes: Counter.Internal }>()

  // One snapshot per scrape, shared by every gauge: building it walks every pool's ring.
  #scrape: ReadonlyMap<string, GaugeSnapshot> | null = null

  /** `read` gives every pool's gauges, by pool name: each gauge is labelled by `pool`. */
  constructor (read: () => ReadonlyMap<string, GaugeSnapshot>) {
    const registers = [this.registry]
    const snapshot = (): ReadonlyMap<string, GaugeSnapshot> => (this.#scrape ??= read())
    for (const prefix of ['weft', 'weave']) {
      new Gauge({
        name: `${prefix}_ips`,
        help: 'Addresses in use, by state and pool',
        labelNames: ['state', 'pool'],
        registers,
        collect () { for (const [pool, s] of snapshot()) this.set({ state: 'local-used', pool }, s.localUsed) }
      })
      const gauge = (name: string, help: string, read: (s: GaugeSnapshot) => number): void => {
        new Gauge({ name: `${prefix}_${name}`, help, labelNames: ['pool'], registers, collect () { for (const [pool, s] of snapshot()) this.set({ pool }, read(s)) } })
      }
      gauge('max_ips', 'Addresses in the pool\'s whole range', s => s.maxIps)
      gauge('ipam_unreachable_count', 'Peers owning ranges that this peer cannot reach', s => s.unreachableCount)
      gauge('ipam_unreachable_percentage', 'Share of the range owned by unreachable peers', s => s.unreachablePercentage)
      gauge('ipam_pending_allocates', 'Allocations waiting for space', s => s.pendingAllocates)
      gauge('ipam_pending_claims', 'Claims of specific addresses waiting', s => s.pendingClaims)
    }
    this.#conflictCounter = new Counter({ name: 'weft_ipam_conflicts_total', help: 'Ring entries rejected because they would hand away allocated addresses', registers })
    this.#badMessageCounter = new Counter({ name: 'weft_bad_messages_total', help: 'Malformed or oversized messages received from the mesh', registers })
    this.#newerCounter = new Counter({ name: 'weft_newer_codec_messages_total', help: 'Messages of a newer codec version, ignored (a rolling update in progress)', registers })
    this.#reclaimCounter = new Counter({ name: 'weft_ipam_reclaimed_peers_total', help: 'Peers of deleted Kubernetes nodes this agent took over', registers })
    const commitSeconds = new Histogram({
      name: 'weft_store_commit_seconds',
      help: 'Duration of one store batch; durability: synced (ring or Paxos changes) or written (allocations only)',
      labelNames: ['durability'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers
    })
    this.#commitSeconds = { written: commitSeconds.labels('written'), synced: commitSeconds.labels('synced') }
    this.#messages = new Counter({ name: 'weft_mesh_messages_total', help: 'Ring messages by way (published: gossiped to the mesh; sent: to one peer; received) and kind', labelNames: ['way', 'kind'], registers })
    this.#messageBytes = new Counter({ name: 'weft_mesh_message_bytes_total', help: 'Bytes of ring messages by way and kind, as encoded (before libp2p\'s framing)', labelNames: ['way', 'kind'], registers })
    this.#gcSeconds = new Histogram({
      name: 'weft_gc_pause_seconds',
      help: 'Pauses of the agent\'s garbage collector; kind: minor (young generation), major, incremental (marking steps), weakcb',
      labelNames: ['kind'],
      buckets: [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers
    })
  }

  /**
   * One ring message of `kind` (its `type`) that this agent `published` to the mesh, `sent` to one
   * peer, or `received` (either way), `bytes` long on the wire (before libp2p's framing).
   */
  message (way: MessageWay, kind: string, bytes: number): void {
    const key = `${way} ${kind}`
    let series = this.#messageSeries.get(key)
    if (series === undefined) {
      series = { count: this.#messages.labels(way, kind), bytes: this.#messageBytes.labels(way, kind) }
      this.#messageSeries.set(key, series)
    }
    series.count.inc()
    series.bytes.inc(bytes)
  }

  get badMessages (): number { return this.#badMessages }

  reclaimed (): void {
    this.#reclaimCounter.inc()
  }

  newerMessage (): void {
    this.#newerCounter.inc()
  }

  conflict (): void {
    this.#conflictCounter.inc()
  }

  badMessage (): void {
    this.#badMessages++
    this.#badMessageCounter.inc()
  }

  /** The data plane's gauges, read at scrape time, and its failure counter. */
  watchRoutes (read: () => { readonly routes: number, readonly unroutable: number }): () => void {
    const registers = [this.registry]
    new Gauge({ name: 'weft_routes', help: 'Routes to other peers\' pods in the current plan', registers, collect () { this.set(read().routes) } })
    new Gauge({ name: 'weft_route_unroutable_peers', help: 'Peers owning ranges that get no route (no usable node address)', registers, collect () { this.set(read().unroutable) } })
    const failures = new Counter({ name: 'weft_route_failures_total', help: 'Kernel commands (routes, tunnel, settings) that failed; each is retried', registers })
    return () => failures.inc()
  }

  commitSeconds (durability: Exclude<Durability, 'empty'>, seconds: number): void {
    this.#commitSeconds[durability].observe(seconds)
  }

  /** Serves /metrics on `addr` and times the GC's pauses meanwhile; returns a function that stops both. */
  async serve (addr: HostPort): Promise<() => Promise<void>> {
    // A young-generation pause is one of the few things that can hold a request up for a millisecond.
    const gc = new PerformanceObserver(list => {
      for (const e of list.getEntries()) {
        const kind = GC_KINDS.get((e as { detail?: { kind?: number } }).detail?.kind ?? -1)
        if (kind !== undefined) this.#gcSeconds.observe({ kind }, e.duration / 1000)
      }
    })
    gc.observe({ entryTypes: ['gc'] })
    const server: Server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try GET /metrics\n')
        return
      }
      this.#scrape = null
      this.registry.metrics().then(
        text => res.writeHead(200, { 'Content-Type': this.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`)
      ).finally(() => { this.#scrape = null })
    })
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(addr.port, addr.host, () => { server.off('error', reject); resolve() })
      })
    } catch (err) {
      gc.disconnect()
      throw err
    }
    return async () => {
      gc.disconnect()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
