/**
 * `n` peers seeded together, each reaching every other, wired by a `directNet` (which `drop` and
 * `late` shape): what the tests of digest rounds and their answers count messages on.
 */
import { parseUniverse } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import { statesEqual } from '../src/shape.ts'
import type { Peer } from '../src/peer.ts'
import { type Message, type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'
import { directNet } from './direct-net.ts'

export const universe = parseUniverse('10.32.0.0/16')
/** Longer than any wait of a due round (8 gossip periods of 8 ticks) and its repeat: nothing more is coming. */
export const QUIET = 100
export const MAX_TICKS = 1_000

export function seededMesh (n: number, drop: (from: PeerId, to: PeerId, msg: Message) => boolean = () => false, late: () => number = () => 0) {
  const ids = Array.from({ length: n }, (_, i) => asPeerId(`p${i}`))
  const peers = new Map<PeerId, Peer<unknown>>(ids.map((id, i) => [id, createPeer({ id, nickname: id, universe, init: { kind: 'seed', peers: ids }, random: prng(i + 1).next })]))
  for (const [id, p] of peers) p.setReachable(ids.filter(q => q !== id))
  const net = directNet(peers, drop, late)
  /** Ticks until nothing was sent for QUIET ticks in a row (at most MAX_TICKS). */
  const runQuiet = (): number => {
    let ticks = 0
    for (let still = 0; still < QUIET && ticks < MAX_TICKS; ticks++) {
      const sent = net.counts.sent
      net.tick(1)
      still = net.counts.sent === sent ? still + 1 : 0
    }
    return ticks
  }
  const oneRing = (): boolean => [...peers.values()].every(p => statesEqual(p.ring(), peers.get(ids[0]!)!.ring()))
  return { ids, peers, net, runQuiet, oneRing }
}
