/**
 * Schedules aimed at the takeover rules that use reachability: the `peer-alive` refusals (the target
 * answers, or an acceptor reaches it) and the electorate (every known peer, the target counted, a
 * strict majority to decide). Reachability is asymmetric (A reaches X, B does not: a cut link),
 * flaps (a link going down and up every few ticks), and partitions isolate a target with a minority,
 * half or a majority of the cluster; peers join on one side during a partition; rmpeer of one target
 * comes from both sides at once, and of two targets (each on the other's side); failed requests are
 * retried as reclaim does; peers crash and restart from their disks, proposers and targets too.
 * Targets are dead, down, or alive and cut off from their remover. Checked after every event:
 * exclusivity and every peer's invariants, at most one heir per peer (`takeover twice`), and the
 * reachability rule (reach-watch.ts); at the end, after a heal and a quiet period, one ring. A peer
 * removed while alive (fewer than half reached it) is stopped for good, as its node is gone.
 */
import { parseUniverse } from '../src/address.ts'
import { InvariantError } from '../src/errors.ts'
import type { Faults as PeerFaults } from '../src/config.ts'
import { type InitMode, type PeerId, type RequestId, asPeerId } from '../src/types.ts'
import { type Prng, prng } from './prng.ts'
import { type ReachStats, ReachWatch } from './reach-watch.ts'
import { type ScheduleResult, runningRing } from './schedule.ts'
import { Violation, World } from './world.ts'

export interface ReachabilityOptions {
  readonly maxPeers: number
  readonly events?: number
  readonly faults?: PeerFaults
  readonly traceLines?: number
}

export interface ReachabilityResult extends ScheduleResult {
  readonly stats: ReachStats
}

/** Rounds of quiet at the end in which rings must become identical. */
const QUIET_TICKS = 200
/** Times a failed removal is asked again, as reclaim would. */
const RETRIES = 4

const peerId = (i: number): PeerId => asPeerId(`r${String(i).padStart(3, '0')}`)

export function runReachabilitySchedule (seed: number, opts: ReachabilityOptions): ReachabilityResult {
  const rnd = prng(seed)
  const n = Math.min(opts.maxPeers, 4 + rnd.int(Math.max(1, opts.maxPeers - 3)))
  const universe = parseUniverse(rnd.chance(0.5) ? '10.32.0.0/12' : '10.0.0.0/22')
  const ids = Array.from({ length: n }, (_, i) => peerId(i))
  const init: InitMode = { kind: 'seed', peers: ids }
  const watch = new ReachWatch()
  const world = new World({
    universe,
    rnd,
    net: { drop: 0.03, duplicate: 0.03 },
    crashAfterPersist: 0.005,
    watch,
    meter: watch.meter,
    ...(opts.traceLines !== undefined ? { traceLines: opts.traceLines } : {}),
    ...(opts.faults !== undefined ? { faults: opts.faults } : {})
  })
  watch.attach(world)
  world.trace.add(`reachability seed ${seed}: ${n} peers, ${universe.cidr}`)
  let violation: string | null = null
  try {
    world.addAll(ids, init, runningRing(universe, ids))
    world.updateReachability()
    const driver = new Driver(world, rnd, watch, init, n)
    for (let e = 0; e < (opts.events ?? 400); e++) {
      driver.step()
      world.check()
    }
    // The heal is as lossy as the rest: lost greetings and digests are asked again until every
    // peer holds the same ring (40 quiet ticks were too few for that under loss: 4 in 1000).
    driver.calm()
    world.heal()
    for (const id of world.ids('down')) world.restart(id)
    world.settle(QUIET_TICKS)
    world.check(true)
    world.checkConverged()
    watch.stats.refused = driver.refused()
  } catch (e) {
    if (!(e instanceof Violation) && !(e instanceof InvariantError)) throw e
    violation = `${e.name}: ${e.message}`
  }
  return { seed, peers: world.ids().length, violation, trace: world.trace.tail(), stats: watch.stats, compacted: world.floorRaised() }
}

/** A link that goes down and up every `period` ticks until `until`. */
interface Flap { readonly a: PeerId, readonly b: PeerId, readonly period: number, readonly until: number }

/** A removal the operator wants (reclaim's list): asked again while it fails retryably. */
interface Wanted { readonly by: PeerId, readonly target: PeerId, request: RequestId, retries: number }

class Driver {
  private readonly w: World
  private readonly rnd: Prng
  private readonly watch: ReachWatch
  private readonly init: InitMode
  private next: number
  private ticks = 0
  private keys = 0
  private flaps: Flap[] = []
  private wanted: Wanted[] = []
  private readonly requests: RequestId[] = []
  /** Peers on the split-off side of the current partition (empty when whole). */
  private side: PeerId[] = []

  constructor (w: World, rnd: Prng, watch: ReachWatch, init: InitMode, n: number) {
    this.w = w
    this.rnd = rnd
    this.watch = watch
    this.init = init
    this.next = n
  }

  step (): void {
    const { w, rnd } = this
    const up = w.ids('up')
    const r = rnd.next()
    if (r < 0.38) w.deliver(1 + rnd.int(2 * up.length + 2))
    else if (r < 0.58) this.tick()
    else if (up.length < 3) this.restartOne()
    else if (r < 0.63) w.allocate(rnd.pick(up), `k${this.keys++}`)
    else if (r < 0.65) this.release(rnd.pick(up))
    else if (r < 0.70) this.cutAround(up)
    else if (r < 0.72) this.mendSome()
    else if (r < 0.74) this.flap(up)
    else if (r < 0.79) this.isolate(up)
    else if (r < 0.81) { this.side = []; w.heal() }
    else if (r < 0.83) w.crash(rnd.pick(up))
    else if (r < 0.86) this.restartOne()
    else if (r < 0.875) this.join()
    else if (r < 0.89 && up.length > 4) w.kill(rnd.pick(up))
    else if (r < 0.96) this.remove(up)
    else this.retry()
    // A peer removed while alive is gone for good: its node was deleted (that is why it was removed).
    for (const id of this.watch.removedAlive.splice(0)) w.kill(id)
  }

  /** No more flapping or cut links: the network is whole but for partitions. */
  calm (): void {
    this.flaps = []
    this.w.net.mendAll()
    this.w.updateReachability()
  }

  private tick (): void {
    this.ticks++
    let changed = false
    this.flaps = this.flaps.filter(f => f.until > this.ticks)
    for (const f of this.flaps) {
      if (this.ticks % f.period !== 0) continue
      this.w.net.link(f.a, f.b, Math.floor(this.ticks / f.period) % 2 === 0)
      changed = true
    }
    if (changed) this.w.updateReachability()
    this.w.tick()
  }

  private release (peer: PeerId): void {
    const held = [...this.w.held(peer).keys()]
    if (held.length > 0) this.w.release(peer, this.rnd.pick(held))
  }

  /** How many of `k` peers: one, a minority, half, or a majority. */
  private share (k: number): number {
    const i = this.rnd.int(4)
    return Math.max(1, Math.min(k, i === 0 ? 1 : i === 1 ? Math.floor((k - 1) / 2) : i === 2 ? Math.floor(k / 2) : Math.floor(k / 2) + 1))
  }

  /** A reaches X but B does not: X's links to some peers are cut; one or two of them rmpeer X. */
  private cutAround (up: readonly PeerId[]): void {
    const x = this.rnd.pick(up)
    const others = this.shuffled(up.filter(p => p !== x))
    const cut = others.slice(0, this.share(others.length))
    for (const p of cut) this.w.net.link(x, p, false)
    this.w.trace.add(`cut ${x} from [${cut.join(' ')}]`)
    this.w.updateReachability()
    for (const by of cut.slice(0, 1 + this.rnd.int(2))) this.rmpeer(by, x)
  }

  private mendSome (): void {
    const up = this.w.ids('up')
    if (up.length < 2) return
    const x = this.rnd.pick(up)
    for (const p of up) if (this.rnd.chance(0.5)) this.w.net.link(x, p, true)
    this.w.trace.add(`mend links of ${x}`)
    this.w.updateReachability()
  }

  private flap (up: readonly PeerId[]): void {
    const [a, b] = this.shuffled(up)
    const f: Flap = { a: a!, b: b!, period: 1 + this.rnd.int(4), until: this.ticks + 10 + this.rnd.int(40) }
    this.flaps.push(f)
    this.w.trace.add(`flap ${f.a}-${f.b} every ${f.period} ticks until tick ${f.until}`)
  }

  /**
   * A partition that puts a target X alone or on a side holding a minority, half or a majority of the cluster;
   * the other side (sometimes X's own too) rmpeers X, or each side rmpeers a peer of the other.
   */
  private isolate (up: readonly PeerId[]): void {
    const [x, ...rest] = this.shuffled(up)
    const withX = [x!, ...rest.slice(0, this.share(up.length) - 1)]
    const away = up.filter(p => !withX.includes(p))
    this.side = withX
    this.w.partition(withX)
    if (away.length === 0) return
    const r = this.rnd.next()
    if (r < 0.5) this.rmpeer(this.rnd.pick(away), x!)
    else if (r < 0.75) {
      // The same target from both sides: X is down, so its own side cannot hear it either.
      this.w.crash(x!)
      this.rmpeer(this.rnd.pick(away), x!)
      const mine = withX.filter(p => p !== x)
      if (mine.length > 0) this.rmpeer(this.rnd.pick(mine), x!)
    } else {
      // Two targets, each on the other side.
      this.rmpeer(this.rnd.pick(away), x!)
      const y = this.rnd.pick(away)
      this.rmpeer(x!, y)
    }
  }

  private restartOne (): void {
    const down = this.w.ids('down')
    if (down.length > 0) this.w.restart(this.rnd.pick(down))
  }

  /** A new node; during a partition it comes up on either side. */
  private join (): void {
    const id = peerId(this.next++)
    this.w.add(id, this.init)
    if (this.side.length > 0 && this.rnd.chance(0.5)) {
      this.side.push(id)
      this.w.partition([id])
    }
  }

  /** rmpeer of a dead, down or cut-off peer, from one peer or from two at once. */
  private remove (up: readonly PeerId[]): void {
    const candidates = [...this.w.ids('dead'), ...this.w.ids('down'), ...up].filter(p => !this.w.peer(up[0]!).ring().removed.some(r => r.peer === p))
    if (candidates.length === 0) return
    const target = this.rnd.pick(candidates)
    const by = up.filter(p => p !== target && !this.w.net.connected(p, target))
    const from = by.length > 0 && this.rnd.chance(0.9) ? by : up.filter(p => p !== target)
    for (const p of this.shuffled(from).slice(0, 1 + this.rnd.int(2))) this.rmpeer(p, target)
  }

  /** Reclaim: every wanted removal whose last request failed retryably is asked again. */
  private retry (): void {
    for (const x of this.wanted) {
      const r = this.w.result(x.request)
      if (r === undefined || r.ok || !r.error.retryable || x.retries >= RETRIES) continue
      if (this.w.ids('up').includes(x.by)) {
        x.retries++
        x.request = this.w.rmpeer(x.by, x.target)
        this.requests.push(x.request)
      }
    }
    this.wanted = this.wanted.filter(x => x.retries < RETRIES)
  }

  private rmpeer (by: PeerId, target: PeerId): void {
    const request = this.w.rmpeer(by, target)
    this.requests.push(request)
    this.wanted.push({ by, target, request, retries: 0 })
  }

  /** How many of the rmpeer requests were refused with `peer-alive`. */
  refused (): number {
    return this.requests.filter(id => { const r = this.w.result(id); return r !== undefined && !r.ok && r.error.code === 'peer-alive' }).length
  }

  private shuffled<T> (xs: readonly T[]): T[] {
    const out = [...xs]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.rnd.int(i + 1)
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }
}
