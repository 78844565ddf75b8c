/**
 * What one removal costs the gossip of a settled cluster of `n` peers, the floor raise it ends with
 * included: a peer dies, another removes it with rmpeer, the heir adopts, every peer stamps its record
 * with the completion, and a floor compacts the removal away. Counted from the rmpeer until every live
 * peer holds one ring at that floor: the messages and their encoded bytes (summed over every peer a
 * message reaches; the transport's framing is extra), by kind, and the whole rings that raised their
 * receiver's floor (what a floor costs when it travels only inside a whole ring).
 */
import { parseUniverse } from '../src/address.ts'
import { encodeMessage } from '../src/codec.ts'
import { type Message, type PeerId, asPeerId } from '../src/types.ts'
import { RELIABLE } from './network.ts'
import { prng } from './prng.ts'
import { runningRing } from './schedule.ts'
import { Violation, World } from './world.ts'

/** A count of messages and their bytes. */
export interface Tally {
  messages: number
  bytes: number
}

export interface RemovalCost {
  readonly peers: number
  /** Every message from the rmpeer on, by kind (`ring`, `delta`, `digest`, `pull`, ...). */
  readonly byKind: Readonly<Record<string, Tally>>
  readonly total: Tally
  /** Whole rings whose floor was above their receiver's when sent. */
  readonly floorRings: Tally
  /** Deltas that raised the floor of their sender's previous delta (the raises, and what followed a raise taken from a whole ring). */
  readonly floorDeltas: Tally
  /** Ticks from the rmpeer until every live peer held one ring at the new floor. */
  readonly ticks: number
}

/** Ticks the removal and its floor may take. */
const MAX_TICKS = 200

export function runRemovalCost (seed: number, n: number): RemovalCost {
  if (n < 3) throw new Error(`a removal's cost needs at least 3 peers, got ${n}`)
  const universe = parseUniverse('10.32.0.0/12')
  const ids = Array.from({ length: n }, (_, i) => asPeerId(`p${String(i).padStart(5, '0')}`))
  const sizes = new WeakMap<Message, number>()
  const sizeOf = (m: Message): number => {
    let b = sizes.get(m)
    if (b === undefined) { b = encodeMessage(m).length; sizes.set(m, b) }
    return b
  }
  let counting = false
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
      if (counting && msg.delta.part.floor > before) add(floorDeltas, recipients, sizeOf(msg))
    }
    if (!counting) return
    const bytes = sizeOf(msg)
    add(byKind[msg.type] ??= { messages: 0, bytes: 0 }, recipients, bytes)
    add(total, recipients, bytes)
    if (msg.type === 'ring' && to !== 'all' && w !== undefined && msg.ring.floor > w.peer(to).ring().floor) add(floorRings, 1, bytes)
  }
  w = new World({ universe, rnd: prng(seed), net: RELIABLE, meter })
  w.addAll(ids, { kind: 'seed', peers: ids }, runningRing(universe, ids))
  w.settle(10, 10_000_000)
  const [dead, heir] = [ids[1]!, ids[0]!]
  w.kill(dead)
  counting = true
  w.rmpeer(heir, dead)
  const done = (): boolean => {
    const r = w.peer(heir).ring()
    return r.floor > 0 && r.floor === r.level && r.removed.length === 0 && w.converged()
  }
  let ticks = 0
  for (; ticks < MAX_TICKS && !done(); ticks++) w.settle(1, 10_000_000)
  if (!done()) throw new Violation(`the removal of ${dead} and its floor did not settle in ${MAX_TICKS} ticks`)
  w.check(true)
  return { peers: n, byKind, total, floorRings, floorDeltas, ticks }
}
