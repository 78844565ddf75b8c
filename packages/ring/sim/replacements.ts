/**
 * Node replacements, many times over: a cluster of `live` peers in which, again and again, one
 * peer dies for good, another takes it over with rmpeer, and a new peer joins and gets space. It
 * measures what the state costs as history grows: the ring (encoded) and the largest message,
 * against a fresh ring of the same live size. Exclusivity is checked after every replacement and
 * convergence at the end, as in every schedule.
 */
import { parseUniverse } from '../src/address.ts'
import { encodeMessage, encodeRingState } from '../src/codec.ts'
import { Ring } from '../src/ring.ts'
import { type Message, type PeerId, asPeerId } from '../src/types.ts'
import { RELIABLE } from './network.ts'
import { prng } from './prng.ts'
import { Violation, World } from './world.ts'

export interface ReplacementResult {
  readonly replacements: number
  /** Encoded sizes in bytes. */
  readonly fresh: number
  readonly ring: number
  readonly largestMessage: number
  /** What the ring holds at the end. */
  readonly entries: number
  readonly members: number
  readonly removals: number
  readonly pendingAcks: number
}

/** Ticks a replacement may take: a vote, the acks, the heir's digest round, a donation. */
const SETTLE_TICKS = 40

export function runReplacements (seed: number, live: number, replacements: number): ReplacementResult {
  const rnd = prng(seed)
  const universe = parseUniverse('10.32.0.0/12')
  let largest = 0
  const meter = (msg: Message): void => { largest = Math.max(largest, encodeMessage(msg).length) }
  const w = new World({ universe, rnd, net: RELIABLE, meter })
  let next = 0
  const id = (): PeerId => asPeerId(`n${String(next++).padStart(6, '0')}`)
  const first = Array.from({ length: live }, id)
  w.addAll(first, { kind: 'seed', peers: first })
  w.settle(5)
  for (let i = 0; i < replacements; i++) {
    const up = w.ids('up')
    const dead = rnd.pick(up)
    w.kill(dead)
    const heir = rnd.pick(up.filter(p => p !== dead))
    w.rmpeer(heir, dead)
    const joiner = id()
    w.add(joiner, { kind: 'observer' })
    const done = (): boolean => w.peer(heir).ring().removed.some(r => r.peer === dead && r.done === true) && w.peer(joiner).status().size > 0n
    for (let t = 0; t < SETTLE_TICKS && !done(); t++) w.settle(1)
    if (!done()) throw new Violation(`replacement ${i}: the removal of ${dead} or the join of ${joiner} did not complete in ${SETTLE_TICKS} ticks`)
    w.check()
  }
  w.settle(10)
  w.check(true)
  w.checkConverged()
  const ring = w.peer(w.ids('up')[0]!).ring()
  const fresh = Ring.empty(universe)
  fresh.claimForPeers(ring.members.map(m => m.peer))
  for (const m of ring.members) fresh.setMember(m.peer, m.nickname, m.address)
  return {
    replacements,
    fresh: encodeRingState(fresh.toState()).length,
    ring: encodeRingState(ring).length,
    largestMessage: largest,
    entries: ring.entries.length,
    members: ring.members.length,
    removals: ring.removed.length,
    pendingAcks: ring.members.reduce((n, m) => n + m.acks.length, 0)
  }
}
