/**
 * Liveness on a loaded machine: every peer of a large electorate needs the ring at once (so every one
 * may propose), some peers are starved (they miss ticks and get their packets late), and every
 * packet is late by up to several ballot timeouts. For a while packets are also lost and the mesh
 * splits. Once the network is whole (lossless, still slow), every peer must have the ring within
 * INIT_BOUND ticks. Then a peer dies and many peers remove it with rmpeer at once, each retrying a
 * failed request as reclaim does: one takeover must be decided within TAKEOVER_BOUND ticks, once.
 */
import { parseUniverse } from '../src/address.ts'
import { DEFAULT_TIMEOUTS, type Faults as PeerFaults } from '../src/config.ts'
import { InvariantError } from '../src/errors.ts'
import { type PeerId, type RequestId, asPeerId } from '../src/types.ts'
import { RELIABLE } from './network.ts'
import { type Prng, prng } from './prng.ts'
import type { ScheduleResult } from './schedule.ts'
import { Violation, World } from './world.ts'

/** Ticks, once the network is whole, within which every peer must have the ring. */
export const INIT_BOUND = 3_000
/** Ticks after the rmpeers within which the removal must be decided and known to every peer. */
export const TAKEOVER_BOUND = 3_000
/** Ticks of loss and partitions before the network is whole. */
const CHAOS_TICKS = 60

export interface LivenessResult extends ScheduleResult {
  /** Ticks from the network being whole to every peer having the ring; null if not within the bound. */
  readonly initTicks: number | null
  readonly takeoverTicks: number | null
}

export interface LivenessOptions {
  readonly maxPeers: number
  readonly faults?: PeerFaults
  readonly traceLines?: number
}

const peerId = (i: number): PeerId => asPeerId(`p${String(i).padStart(3, '0')}`)

export function runLivenessSchedule (seed: number, opts: LivenessOptions): LivenessResult {
  const rnd = prng(seed)
  const n = 3 + rnd.int(Math.max(1, opts.maxPeers - 2))
  const ballot = DEFAULT_TIMEOUTS.ballot
  // Up to three ballot timeouts late, and starved peers later still: a reply never fits one timeout.
  const maxLag = rnd.int(3 * ballot + 1)
  const ids = Array.from({ length: n }, (_, i) => peerId(i))
  const starved = new Set(ids.filter(() => rnd.chance(0.25)))
  const world = new World({
    universe: parseUniverse('10.32.0.0/12'),
    rnd,
    net: { drop: 0.05, duplicate: 0.03 },
    oneRing: true,
    ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
    ...(opts.traceLines !== undefined ? { traceLines: opts.traceLines } : {})
  })
  world.net.lag = p => rnd.int(maxLag + 1) + (starved.has(p.to) ? rnd.int(2 * ballot) : 0)
  world.starved = id => starved.has(id) && rnd.chance(0.5)
  world.trace.add(`liveness seed ${seed}: ${n} peers, consensus=${n}, lag up to ${maxLag}, starved [${[...starved].join(' ')}]`)
  let violation: string | null = null
  let initTicks: number | null = null
  let takeoverTicks: number | null = null
  try {
    for (const id of ids) world.add(id, { kind: 'consensus', count: n })
    for (const id of ids) world.allocate(id, `k-${id}`)
    for (let t = 0; t < CHAOS_TICKS; t++) {
      if (rnd.chance(0.05)) world.partition(ids.filter(() => rnd.chance(0.4)))
      if (rnd.chance(0.05)) world.heal()
      world.deliver(rnd.int(4 * n))
      world.tick()
      world.check()
    }
    world.heal()
    world.net.faults = RELIABLE
    initTicks = until(world, INIT_BOUND, () => world.ringless().length === 0)
    if (initTicks === null) throw new Violation(`liveness: ${world.ringless().length} of ${n} peers still without a ring ${INIT_BOUND} ticks after the network was whole`)
    // One that owns space: a peer left out of the split is not a peer of the ring.
    const owners = world.peer(ids[0]!).ring().seeds
    takeoverTicks = removeOne(world, rnd.pick(owners), ids, rnd.int(n) + 1, rnd)
    // The last ring changes are still on their (slow) way: wait for them, within the bound too.
    until(world, INIT_BOUND, () => world.converged())
    world.check(true)
    world.checkConverged()
  } catch (e) {
    if (!(e instanceof Violation) && !(e instanceof InvariantError)) throw e
    violation = `${e.name}: ${e.message}`
  }
  return { seed, peers: n, violation, trace: world.trace.tail(), initTicks, takeoverTicks }
}

/** Ticks (delivering every due packet before each) until `done`, or null after `bound`. */
function until (w: World, bound: number, done: () => boolean): number | null {
  for (let t = 0; t < bound; t++) {
    if (done()) return t
    w.deliver(100_000)
    w.tick()
    w.check()
  }
  return done() ? bound : null
}

/** Kills `dead`; `proposers` others rmpeer it at once, retrying failures. Ticks until every peer knows. */
function removeOne (w: World, dead: PeerId, ids: readonly PeerId[], proposers: number, rnd: Prng): number {
  w.kill(dead)
  const alive = ids.filter(id => id !== dead)
  const chosen = new Set<PeerId>()
  while (chosen.size < Math.min(proposers, alive.length)) chosen.add(rnd.pick(alive))
  const requests = new Map<PeerId, RequestId>([...chosen].map(p => [p, w.rmpeer(p, dead)]))
  const knows = (id: PeerId): boolean => w.peer(id).ring().removed.some(r => r.peer === dead)
  const ticks = until(w, TAKEOVER_BOUND, () => {
    for (const [p, id] of requests) {
      const r = w.result(id)
      if (r !== undefined && !r.ok && r.error.retryable) requests.set(p, w.rmpeer(p, dead))
    }
    return alive.every(knows)
  })
  if (ticks === null) throw new Violation(`liveness: the removal of ${dead} by ${chosen.size} proposers not known to every peer ${TAKEOVER_BOUND} ticks after it began`)
  return ticks
}
