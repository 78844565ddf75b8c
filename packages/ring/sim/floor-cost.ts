/**
 * What a removal costs the gossip of a settled cluster of `n` peers, and what the floor raise it
 * ends with costs alone. `runRemovalCost`: a peer dies, another removes it with rmpeer, the heir
 * adopts, every peer stamps its record with the completion, and a floor compacts the removal away;
 * counted from the rmpeer until every live peer holds one ring at that floor. `runFloorCost`: every
 * peer starts from a disk holding the ring as it is just before the floor (the removal completed,
 * every record stamped with it), so that the floor raise is all that happens but the start's
 * greetings; counted from the start until every peer holds one ring at the floor. Both count the
 * messages and their encoded bytes (summed over every peer a message reaches; the transport's framing
 * is extra), by kind, and the whole rings that raised their receiver's floor (what a floor costs when
 * it travels only inside a whole ring).
 */
import { type Universe, parseUniverse } from '../src/address.ts'
import { encodeMessage } from '../src/codec.ts'
import { Ring } from '../src/ring.ts'
import { type Message, type PeerId, type RingState, asPeerId } from '../src/types.ts'
import { RELIABLE } from './network.ts'
import { prng } from './prng.ts'
import { runningRing } from './schedule.ts'
import { Violation, World } from './world.ts'

/** A count of messages and their bytes. */
export interface Tally {
  messages: number
  bytes: number
}

export interface GossipCost {
  readonly peers: number
  /** Every message counted, by kind (`ring`, `delta`, `digest`, `pull`, ...; `digest*`: a digest round's, to all). */
  readonly byKind: Readonly<Record<string, Tally>>
  readonly total: Tally
  /** Whole rings whose floor was above their receiver's when sent. */
  readonly floorRings: Tally
  /** Deltas that raised the floor of their sender's previous delta (the raises, and what followed a raise taken from a whole ring). */
  readonly floorDeltas: Tally
  /** Ticks until every live peer held one ring at the new floor. */
  readonly ticks: number
}

/** Ticks the removal and its floor may take. */
const MAX_TICKS = 200

const universe = parseUniverse('10.32.0.0/12')
const peerIds = (n: number): PeerId[] => Array.from({ length: n }, (_, i) => asPeerId(`p${String(i).padStart(5, '0')}`))

/** A world of `n` seeded peers whose meter counts while `counting()`. */
function metered (seed: number, counting: () => boolean): { readonly w: World, readonly cost: (peers: number, ticks: number) => GossipCost } {
  const sizes = new WeakMap<Message, number>()
  const sizeOf = (m: Message): number => {
    let b = sizes.get(m)
    if (b === undefined) { b = encodeMessage(m).length; sizes.set(m, b) }
    return b
  }
  const byKind: Record<string, Tally> = {}
  const total: Tally = { messages: 0, bytes: 0 }
  const floorRings: Tally = { messages: 0, bytes: 0 }
  const floorDeltas: Tally = { messages: 0, bytes: 0 }
  const lastFloor = new Map<PeerId, number>()
  const add = (t: Tally, count: number, bytes: number): void => { t.messages += count; t.bytes += bytes * count }
  let w: World | undefined
  const meter = (msg: Message, recipients: number, from: PeerId, to: PeerId | 'all'): void => {
    if (msg.type === 'delta') {
      const before = lastFloor.get(from) ?? 0
      lastFloor.set(from, msg.delta.part.floor)
      if (counting() && msg.delta.part.floor > before) add(floorDeltas, recipients, sizeOf(msg))
    }
    if (!counting()) return
    const bytes = sizeOf(msg)
    add(byKind[msg.type === 'digest' && to === 'all' ? 'digest*' : msg.type] ??= { messages: 0, bytes: 0 }, recipients, bytes)
    add(total, recipients, bytes)
    if (msg.type === 'ring' && to !== 'all' && w !== undefined && msg.ring.floor > w.peer(to).ring().floor) add(floorRings, 1, bytes)
  }
  w = new World({ universe, rnd: prng(seed), net: RELIABLE, meter })
  return { w, cost: (peers, ticks) => ({ peers, byKind, total, floorRings, floorDeltas, ticks }) }
}

/** Settles `w` a tick at a time until every live peer holds one ring with a floor at its level (bounded). */
function settleFloor (w: World, what: string): number {
  const by = w.ids('up')[0]!
  const done = (): boolean => {
    const r = w.peer(by).ring()
    return r.floor > 0 && r.floor === r.level && r.removed.length === 0 && w.converged()
  }
  let ticks = 0
  for (; ticks < MAX_TICKS && !done(); ticks++) w.settle(1, 10_000_000)
  if (!done()) throw new Violation(`${what} did not settle in ${MAX_TICKS} ticks`)
  w.check(true)
  return ticks
}

export function runRemovalCost (seed: number, n: number): GossipCost {
  if (n < 3) throw new Error(`a removal's cost needs at least 3 peers, got ${n}`)
  const ids = peerIds(n)
  let counting = false
  const { w, cost } = metered(seed, () => counting)
  w.addAll(ids, { kind: 'seed', peers: ids }, runningRing(universe, ids))
  w.settle(10, 10_000_000)
  const [dead, heir] = [ids[1]!, ids[0]!]
  w.kill(dead)
  counting = true
  w.rmpeer(heir, dead)
  return cost(n, settleFloor(w, `the removal of ${dead} and its floor`))
}

/**
 * The ring of `ids` (split among them and `dead`, every record written) as it is once the heir
 * `ids[0]` adopted `dead`'s space, and every peer stamped its record with the completion: what a floor
 * is raised on.
 */
function beforeFloor (u: Universe, ids: readonly PeerId[], dead: PeerId): RingState {
  const r = Ring.fromState(u, runningRing(u, [...ids, dead]))
  r.addRemoval(dead, ids[0]!)
  r.adopt(ids[0]!)
  for (const p of ids) r.setMember(p, World.nodeName(p))
  return r.toState()
}

export function runFloorCost (seed: number, n: number): GossipCost {
  if (n < 2) throw new Error(`a floor's cost needs at least 2 peers, got ${n}`)
  const ids = peerIds(n)
  const { w, cost } = metered(seed, () => true)
  const ring = beforeFloor(universe, ids, asPeerId('p-dead'))
  if (ring.floor !== 0 || ring.level === 0) throw new Error('the ring before the floor has no completed removal to compact')
  w.addAll(ids, { kind: 'seed', peers: ids }, ring)
  return cost(n, settleFloor(w, 'the floor'))
}
