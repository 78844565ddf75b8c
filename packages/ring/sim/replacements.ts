/**
 * Node replacements, many times over: a cluster of `live` peers in which, again and again, one
 * peer dies for good, another takes it over with rmpeer, and a new peer joins and gets space. It
 * measures what the state costs as history grows: the ring (encoded) and the largest message,
 * against a fresh ring of the same live size. Exclusivity is checked after every replacement and
 * convergence at the end, as in every schedule. Every dead peer held addresses; now and then one of
 * them comes back from its disk (soon after its removal, or long after it was compacted away) and
 * must stop as removed before it hands out anything.
 */
import { parseUniverse } from '../src/address.ts'
import { encodeMessage, encodeRingState } from '../src/codec.ts'
import { Ring } from '../src/ring.ts'
import { type Message, type PeerId, type RingState, asPeerId } from '../src/types.ts'
import { RELIABLE } from './network.ts'
import { prng } from './prng.ts'
import type { Disk } from './disk.ts'
import type { Faults } from '../src/config.ts'
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
  /** Dead peers brought back from their disks, every one of which stopped as removed. */
  readonly revived: number
}

/** Every this many replacements, one of the last peers that died comes back from its disk. */
const REVIVE_EVERY = 10
/** Ticks a peer back from its disk may take to learn it was removed. */
const REVIVE_TICKS = 20
/** Addresses each peer allocates before it dies: its disk still lists them when it comes back. */
const HELD = 2

/** Ticks a replacement may take: a vote, the acks, the heir's digest round, a donation. */
const SETTLE_TICKS = 40

/** `dead`'s removal is completed in `ring`, or compacted away after that (no removal, record or entry names it). */
function completed (ring: RingState, dead: PeerId): boolean {
  const r = ring.removed.find(x => x.peer === dead)
  if (r !== undefined) return r.done !== undefined
  return ring.members.every(m => m.peer !== dead) && ring.entries.every(e => e.owner !== dead)
}

/** `faults`: a planted bug the run must catch (test/sim.test.ts). */
export function runReplacements (seed: number, live: number, replacements: number, faults?: Faults): ReplacementResult {
  const rnd = prng(seed)
  const universe = parseUniverse('10.32.0.0/12')
  let largest = 0
  const meter = (msg: Message): void => { largest = Math.max(largest, encodeMessage(msg).length) }
  const w = new World({ universe, rnd, net: RELIABLE, meter, ...(faults !== undefined ? { faults } : {}) })
  const graves: Array<{ readonly id: PeerId, readonly disk: Disk }> = []
  let revived = 0
  let next = 0
  const id = (): PeerId => asPeerId(`n${String(next++).padStart(6, '0')}`)
  const first = Array.from({ length: live }, id)
  w.addAll(first, { kind: 'seed', peers: first })
  w.settle(5)
  for (let i = 0; i < replacements; i++) {
    const up = w.ids('up')
    const dead = rnd.pick(up)
    for (let k = 0; k < HELD; k++) w.allocate(dead, `pod-${i}-${k}`)
    w.settle(1)
    graves.push({ id: dead, disk: w.copyDisk(dead) })
    if (graves.length > REVIVE_EVERY) graves.shift()
    w.kill(dead)
    const heir = rnd.pick(up.filter(p => p !== dead))
    w.rmpeer(heir, dead)
    const joiner = id()
    w.add(joiner, { kind: 'observer' })
    const done = (): boolean => completed(w.peer(heir).ring(), dead) && w.peer(joiner).status().size > 0n
    for (let t = 0; t < SETTLE_TICKS && !done(); t++) w.settle(1)
    if (!done()) throw new Violation(`replacement ${i}: the removal of ${dead} or the join of ${joiner} did not complete in ${SETTLE_TICKS} ticks`)
    w.check()
    if ((i + 1) % REVIVE_EVERY === 0) {
      // Every other time a fresh peer hears the revived one first, alone with it for a while.
      revive(w, rnd.pick(graves), (i + 1) % (2 * REVIVE_EVERY) === 0 ? id() : null)
      revived++
    }
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
    pendingAcks: ring.members.reduce((n, m) => n + m.acks.length, 0),
    revived
  }
}

/**
 * A removed peer back from its disk (its removal maybe compacted away by now) must learn it was
 * removed from the first ring it hears, and refuse to allocate; then it dies again. With `joiner`, a
 * fresh observer first hears only it (takes its ring, maybe space from it), then everyone: the
 * removed peer's record must not spread, and the joiner keeps going unless it took space from it.
 */
function revive (w: World, grave: { readonly id: PeerId, readonly disk: Disk }, joiner: PeerId | null): void {
  if (joiner !== null) w.partition([grave.id, joiner])
  w.revive(grave.id, grave.disk)
  if (joiner !== null) {
    w.add(joiner, { kind: 'observer' })
    for (let t = 0; t < REVIVE_TICKS && w.peer(joiner).ring().seeds.length === 0; t++) w.settle(1)
    w.heal()
  }
  for (let t = 0; t < REVIVE_TICKS && w.peer(grave.id).removedBy() === null; t++) w.settle(1)
  if (w.peer(grave.id).removedBy() === null) throw new Violation(`${grave.id}, removed and back from its disk, did not stop in ${REVIVE_TICKS} ticks`)
  const req = w.allocate(grave.id, 'after-revival')
  const res = w.result(req)
  if (res?.ok !== false || res.error.code !== 'removed') throw new Violation(`${grave.id}, removed and back from its disk, answered an allocation with ${JSON.stringify(res, (_, v: unknown) => typeof v === 'bigint' ? String(v) : v)}`)
  w.check()
  w.kill(grave.id)
  w.settle(5)
  const live = w.ids('up').filter(p => w.peer(p).removedBy() === null)
  for (const p of live) {
    if (w.peer(p).ring().members.some(m => m.peer === grave.id)) throw new Violation(`${p} holds the record of ${grave.id}, removed and back from its disk`)
  }
  if (joiner === null) return
  // The joiner goes again, so that the cluster keeps its size; removed like any dead peer if the others know it.
  w.kill(joiner)
  const by = live.find(p => p !== joiner)!
  if (!w.peer(by).ring().members.some(m => m.peer === joiner)) return
  w.rmpeer(by, joiner)
  for (let t = 0; t < SETTLE_TICKS && !completed(w.peer(by).ring(), joiner); t++) w.settle(1)
  if (!completed(w.peer(by).ring(), joiner)) throw new Violation(`the removal of ${joiner}, which heard a removed peer first, did not complete in ${SETTLE_TICKS} ticks`)
}
