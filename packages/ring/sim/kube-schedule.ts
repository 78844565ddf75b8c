/**
 * One random schedule of `kubernetes` init, fully determined by its seed. A stand-in API server
 * registers nodes over time (some in the same second, some far apart); each node's agent starts
 * some time after its node registered (staggered, one by one, or several together), and reads the
 * Node list when it starts and now and then after. A read is consistent (as a list without a
 * resourceVersion is), but an agent keeps its last read until the next: views are partial and
 * stale, nested as a linearizable API server's are. Some nodes never run an agent;
 * some are deleted (never the oldest: that is the case the README leaves open). Messages are dropped,
 * duplicated and reordered; the mesh partitions; agents crash and restart; pods allocate and release.
 *
 * Checked after every event: every peer's invariants, exclusivity, and that every ring, live or on
 * disk, comes from one split. At the end (heal, every agent reads the list, quiet): if the initialiser
 * and the nodes created within CONCURRENT_MS of it run agents, every agent holds the one ring, and all
 * rings are the same.
 */
import { parseUniverse } from '../src/address.ts'
import { CONCURRENT_MS, compareNodes } from '../src/node-init.ts'
import type { Faults as PeerFaults } from '../src/config.ts'
import { type NodeRecord, type PeerId, asPeerId } from '../src/types.ts'
import { RELIABLE } from './network.ts'
import { type Prng, prng } from './prng.ts'
import type { ScheduleResult } from './schedule.ts'
import { World } from './world.ts'

export interface KubeScheduleOptions {
  readonly maxPeers: number
  readonly events?: number
  readonly traceLines?: number
  readonly faults?: PeerFaults
}

const UNIVERSES = ['10.0.0.0/24', '10.32.0.0/12', 'fd00::/64'] as const
const QUIET_TICKS = 80
/** Ticks the initialiser waits for younger nodes' agents: short, so schedules reach the split. */
const NODE_WAIT = 12

const peerId = (i: number): PeerId => asPeerId(`k${String(i).padStart(3, '0')}`)

interface SimNode {
  readonly id: PeerId
  readonly record: NodeRecord
  /** This node never runs an agent. */
  readonly agentless: boolean
  started: boolean
  deleted: boolean
}

export function runKubeSchedule (seed: number, opts: KubeScheduleOptions): ScheduleResult {
  const rnd = prng(seed)
  const total = Math.min(opts.maxPeers, 1 + Math.ceil(rnd.next() ** 2 * opts.maxPeers))
  const universe = parseUniverse(rnd.pick(UNIVERSES))
  const world = new World({
    universe,
    rnd,
    net: { drop: 0.05, duplicate: 0.03 },
    crashAfterPersist: 0.01,
    timeouts: { nodeWait: NODE_WAIT },
    oneRing: true,
    ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
    ...(opts.traceLines !== undefined ? { traceLines: opts.traceLines } : {})
  })
  world.trace.add(`kube seed ${seed}: ${total} nodes, ${universe.cidr}`)
  const api = new StandInApi(rnd, total)
  let violation: string | null = null
  let killedRingless = false
  try {
    const events = Math.round((opts.events ?? 300) * Math.min(1, 25 / total))
    let keys = 0
    for (let e = 0; e < events; e++) {
      const r = rnd.next()
      const up = world.ids('up')
      if (r < 0.5) world.deliver(1 + rnd.int(2 * up.length + 2))
      else if (r < 0.62) world.tick()
      else if (r < 0.68) api.register(world)
      else if (r < 0.76) api.startOne(world)
      else if (r < 0.82 && up.length > 0) world.setNodes(rnd.pick(up), api.current())
      else if (r < 0.87 && up.length > 0) world.allocate(rnd.pick(up), `p${keys++}`)
      else if (r < 0.89 && up.length > 0) {
        const id = rnd.pick(up)
        const held = [...world.held(id).keys()]
        if (held.length > 0) world.release(id, rnd.pick(held))
      } else if (r < 0.925 && up.length > 1) world.partition(up.filter(() => rnd.chance(0.4)))
      else if (r < 0.93) world.heal()
      else if (r < 0.95 && up.length > 0) world.crash(rnd.pick(up))
      else if (r < 0.97) { const down = world.ids('down'); if (down.length > 0) world.restart(rnd.pick(down), api.current()) }
      else if (r < 0.98) killedRingless = api.deleteOne(world) || killedRingless
      else world.tick()
      world.check()
    }
    world.heal()
    for (const id of world.ids('down')) world.restart(id, api.current())
    world.net.faults = RELIABLE
    for (const id of world.ids('up')) world.setNodes(id, api.current())
    world.settle(QUIET_TICKS)
    world.check(true)
    if (api.live(world) && !killedRingless) {
      const ringless = world.ringless()
      if (ringless.length > 0) throw new Error(`liveness: ${ringless.join(' ')} still without a ring: ${world.peer(ringless[0]!).status().text}`)
    }
    world.checkConverged()
  } catch (e) {
    if (!(e instanceof Error)) throw e
    violation = `${e.name}: ${e.message}`
  }
  return { seed, peers: total, violation, trace: world.trace.tail() }
}

/** The Node list as an API server keeps it. */
class StandInApi {
  private readonly rnd: Prng
  private readonly total: number
  private readonly nodes: SimNode[] = []
  private list: readonly NodeRecord[] = []
  private second = 1_700_000_000

  constructor (rnd: Prng, total: number) {
    this.rnd = rnd
    this.total = total
  }

  current (): readonly NodeRecord[] {
    return this.list
  }

  /** A kubelet registers its node: in the same second as the last, a little later, or much later. */
  register (w: World): void {
    if (this.nodes.length >= this.total) { this.startOne(w); return }
    const r = this.rnd.next()
    this.second += r < 0.3 ? 0 : r < 0.6 ? 1 + this.rnd.int(3) : 10 + this.rnd.int(100)
    // Names are not in creation order, so the name tie-break matters within a second.
    let id = peerId(this.rnd.int(1000))
    while (this.nodes.some(n => n.id === id)) id = peerId(this.rnd.int(1000))
    const record: NodeRecord = { name: World.nodeName(id), created: this.second * 1000 }
    this.nodes.push({ id, record, agentless: this.rnd.chance(0.1), started: false, deleted: false })
    w.trace.add(`register ${record.name}@${record.created}`)
    this.snapshot()
  }

  /** A registered node's agent starts; it reads the list first. */
  startOne (w: World): void {
    const waiting = this.nodes.filter(n => !n.started && !n.agentless && !n.deleted)
    if (waiting.length === 0) {
      if (this.nodes.length < this.total) this.register(w)
      return
    }
    // Several at once now and then: nodes started together.
    const batch = this.rnd.chance(0.3) ? waiting : [this.rnd.pick(waiting)]
    for (const n of batch) {
      n.started = true
      w.add(n.id, { kind: 'kubernetes' }, this.list)
    }
  }

  /** A node other than the oldest is deleted, and its agent goes with it. True if that agent had no ring. */
  deleteOne (w: World): boolean {
    const listed = this.nodes.filter(n => !n.deleted).sort((a, b) => compareNodes(a.record, b.record))
    if (listed.length < 3) return false
    const n = this.rnd.pick(listed.slice(1))
    n.deleted = true
    // A down agent may have had no ring either: the rule may wait for it without bound.
    const ringless = n.started && (w.ringless().includes(n.id) || w.ids('down').includes(n.id))
    if (n.started) w.kill(n.id)
    w.trace.add(`delete node ${n.record.name}`)
    this.snapshot()
    return ringless
  }

  /** Whether the rule promises a ring: the initialiser and its near-simultaneous nodes run agents. */
  live (w: World): boolean {
    const listed = this.nodes.filter(n => !n.deleted).sort((a, b) => compareNodes(a.record, b.record))
    const first = listed[0]
    if (first === undefined) return false
    const up = new Set(w.ids('up'))
    return listed.filter(n => n.record.created - first.record.created <= CONCURRENT_MS).every(n => up.has(n.id))
  }

  private snapshot (): void {
    this.list = this.nodes.filter(n => !n.deleted).map(n => n.record)
  }
}
