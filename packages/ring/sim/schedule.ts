/**
 * One random schedule, fully determined by its seed: peers start, allocate, release and claim;
 * messages are delayed, reordered, dropped and duplicated; the mesh partitions and heals; peers crash
 * (sometimes between persist and send) and restart from their disks; new peers join; some die for
 * good and are removed with rmpeer, sometimes from both sides of a partition at once. Then the
 * network heals and goes quiet, and every live ring must be the same.
 */
import { type Universe, parseUniverse } from '../src/address.ts'
import { encodeMessage, encodeRingState } from '../src/codec.ts'
import { Ring } from '../src/ring.ts'
import type { Faults as PeerFaults } from '../src/config.ts'
import { InvariantError } from '../src/errors.ts'
import { type InitMode, type Message, type PeerId, type RingState, asPeerId } from '../src/types.ts'
import { RELIABLE } from './network.ts'
import { type Prng, prng } from './prng.ts'
import { Violation, World } from './world.ts'

export interface ScheduleOptions {
  readonly maxPeers: number
  /**
   * Exactly `maxPeers` peers, of a cluster that has run for a while: each starts from a disk holding
   * the split and every member record (what large clusters are run with: the first split of
   * thousands is bootstrap's business, not this schedule's).
   */
  readonly full?: boolean
  /** Events before the final heal; each is a delivery, a tick, a request or a fault. */
  readonly events?: number
  readonly faults?: PeerFaults
  readonly traceLines?: number
  /** The ring's universe (a pool's, with reserved ranges, say); else one picked by the seed. */
  readonly universe?: Universe
  /** Planted bug (World's `peerUniverse`): peers that do not know the universe's reserved ranges. */
  readonly peerUniverse?: Universe
  /** Told as each phase ends (`start`, `events`, `settle`), so a caller can measure them; the schedule keeps no clock. */
  readonly phase?: (name: 'start' | 'events' | 'settle') => void
}

export interface ScheduleResult {
  readonly seed: number
  readonly peers: number
  /** Null when every check held. */
  readonly violation: string | null
  readonly trace: readonly string[]
  /** With `full`: the encoded ring at the end and the largest message sent, in bytes. */
  readonly sizes?: { readonly ring: number, readonly largestMessage: number }
  /** Some live peer's ring has a floor: a removal was compacted away (the floor checks were not vacuous). */
  readonly compacted?: boolean
}

const UNIVERSES = ['10.0.0.0/24', '10.0.0.0/22', '10.32.0.0/12', 'fd00::/64'] as const
/** Rounds of quiet at the end in which rings must become identical. */
const QUIET_TICKS = 30

const peerId = (i: number): PeerId => asPeerId(`p${String(i).padStart(3, '0')}`)

export function runSchedule (seed: number, opts: ScheduleOptions): ScheduleResult {
  const rnd = prng(seed)
  // Mostly small clusters, sometimes up to the maximum: that is where the time goes.
  const initial = opts.full === true ? opts.maxPeers : Math.min(opts.maxPeers, 1 + Math.ceil(rnd.next() ** 3 * opts.maxPeers))
  const joiners = rnd.int(Math.max(1, Math.min(4, opts.maxPeers - initial + 1)))
  // A full cluster gets a range with room for every peer (as an operator would size it).
  const picked = parseUniverse(rnd.pick(UNIVERSES.filter(c => opts.full !== true || parseUniverse(c).size >= 64n * BigInt(initial))))
  const universe = opts.universe ?? picked
  const ids = Array.from({ length: initial }, (_, i) => peerId(i))
  const init: InitMode = opts.full !== true && rnd.chance(0.5) ? { kind: 'consensus', count: initial } : { kind: 'seed', peers: ids }
  const world = new World({
    universe,
    rnd,
    net: { drop: 0.05, duplicate: 0.03 },
    crashAfterPersist: 0.01,
    ...(opts.peerUniverse !== undefined ? { peerUniverse: opts.peerUniverse } : {}),
    ...(opts.traceLines !== undefined ? { traceLines: opts.traceLines } : {}),
    ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
    // A broadcast is one message object however many peers it goes to: measured once.
    ...(opts.full === true ? { meter: meterOnce(n => { largestMessage = Math.max(largestMessage, n) }) } : {})
  })
  world.trace.add(`seed ${seed}: ${initial} peers + ${joiners} joiners, ${universe.cidr}, ${init.kind}`)
  let largestMessage = 0
  let violation: string | null = null
  try {
    if (opts.full === true) world.addAll(ids, init, runningRing(universe, ids))
    else for (const id of ids) world.add(id, init)
    opts.phase?.('start')
    const driver = new Driver(world, rnd, init, initial, joiners)
    // Large clusters get fewer events: the cost of one grows with the square of the peers (gossip),
    // and the races that break things need many events more than many peers.
    const events = Math.round((opts.events ?? 250) * Math.min(1, 25 / initial))
    for (let e = 0; e < events; e++) {
      driver.step()
      world.check()
    }
    opts.phase?.('events')
    // Heal and go quiet: restart everyone who can come back, stop losing messages, and wait.
    world.heal()
    for (const id of world.ids('down')) world.restart(id)
    world.net.faults = RELIABLE
    // Every peer handles its messages within a tick, so what a tick delivers grows with the peers
    // (a heal of 1000 peers greets a million times).
    world.settle(QUIET_TICKS, Math.max(10_000, 1000 * world.ids().length))
    opts.phase?.('settle')
    world.check(true)
    world.checkConverged()
  } catch (e) {
    // A failed check, the simulator's or the core's own, is a finding; anything else is a crash of the
    // core or the simulator, and a crash counted as a violation would make every planted-bug test pass.
    if (!(e instanceof Violation) && !(e instanceof InvariantError)) throw e
    violation = `${e.name}: ${e.message}`
  }
  const sizes = opts.full === true && violation === null ? { ring: encodeRingState(world.peer(world.ids('up')[0]!).ring()).length, largestMessage } : undefined
  return { seed, peers: initial + joiners, violation, trace: world.trace.tail(), compacted: world.floorRaised(), ...(sizes !== undefined ? { sizes } : {}) }
}

/** A meter that encodes each message object once and reports its size. */
function meterOnce (size: (bytes: number) => void): (msg: Message) => void {
  const seen = new WeakSet<Message>()
  return msg => {
    if (seen.has(msg)) return
    seen.add(msg)
    size(encodeMessage(msg).length)
  }
}

/** The split among `ids` with every member's record, as each peer writes its own. */
export function runningRing (u: Universe, ids: readonly PeerId[]): RingState {
  const r = Ring.empty(u)
  r.claimForPeers(ids)
  for (const p of ids) r.setMember(p, World.nodeName(p))
  return r.toState()
}

/** Picks and performs one random event at a time. */
class Driver {
  private readonly w: World
  private readonly rnd: Prng
  private readonly init: InitMode
  private next: number
  private joinersLeft: number
  private keys = 0

  constructor (w: World, rnd: Prng, init: InitMode, initial: number, joiners: number) {
    this.w = w
    this.rnd = rnd
    this.init = init
    this.next = initial
    this.joinersLeft = joiners
  }

  step (): void {
    const w = this.w
    const rnd = this.rnd
    const up = w.ids('up')
    const r = rnd.next()
    if (r < 0.55) { w.deliver(1 + rnd.int(2 * up.length + 2)); return }
    if (r < 0.65) { w.tick(); return }
    if (up.length === 0) { this.restartOne(); return }
    if (r < 0.78) { this.allocate(rnd.pick(up)); return }
    if (r < 0.85) { this.release(rnd.pick(up)); return }
    if (r < 0.87) { this.partition(up); return }
    if (r < 0.89) { w.heal(); return }
    if (r < 0.91) { w.crash(rnd.pick(up)); return }
    if (r < 0.94) { this.restartOne(); return }
    if (r < 0.95) { this.join(); return }
    if (r < 0.96 && up.length > 2) { w.kill(rnd.pick(up)); return }
    if (r < 0.98) { this.remove(); return }
    w.tick()
  }

  private allocate (peer: PeerId): void {
    const key = `k${this.keys++}`
    if (this.rnd.chance(0.15)) {
      // A requested address: anywhere, so often one another peer owns.
      const span = this.w.universe.size < 1024n ? this.w.universe.size : 1024n
      this.w.allocate(peer, key, BigInt(this.rnd.int(Number(span))))
    } else this.w.allocate(peer, key)
  }

  private release (peer: PeerId): void {
    const held = [...this.w.held(peer).keys()]
    if (held.length > 0) this.w.release(peer, this.rnd.pick(held))
  }

  private partition (up: readonly PeerId[]): void {
    this.w.partition(up.filter(() => this.rnd.chance(0.4)))
  }

  private restartOne (): void {
    const down = this.w.ids('down')
    if (down.length > 0) this.w.restart(this.rnd.pick(down))
  }

  /**
   * A new node: as an agent would be configured for it, with consensus over every node that exists
   * now (as a DaemonSet counts nodes), the cluster's seed list, or as an observer.
   */
  private join (): void {
    if (this.joinersLeft === 0) return
    this.joinersLeft--
    const id = peerId(this.next++)
    const init: InitMode = this.rnd.chance(0.2)
      ? { kind: 'observer' }
      : this.init.kind === 'consensus' ? { kind: 'consensus', count: this.next } : this.init
    this.w.add(id, init)
  }

  /** rmpeer of a dead peer; sometimes from both sides of a fresh partition at once. */
  private remove (): void {
    const dead = this.w.ids('dead')
    const up = this.w.ids('up')
    if (dead.length === 0 || up.length === 0) return
    const target = this.rnd.pick(dead)
    if (this.rnd.chance(0.3) && up.length >= 2) {
      const a = this.rnd.pick(up)
      const b = this.rnd.pick(up.filter(p => p !== a))
      this.w.partition([b, ...up.filter(p => p !== a && p !== b && this.rnd.chance(0.5))])
      this.w.rmpeer(a, target)
      this.w.rmpeer(b, target)
    } else this.w.rmpeer(this.rnd.pick(up), target)
  }
}

