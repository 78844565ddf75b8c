/**
 * A ring split among the first `seeded` of `count` peers (as a loaded start decides), the rest
 * joining with nothing, every packet late by 1 to `maxLate` ticks: the harness of the tests on how
 * joiners collect their shares.
 */
import { parseUniverse } from '../src/address.ts'
import type { Universe } from '../src/address.ts'
import { createPeer } from '../src/peer.ts'
import type { Peer } from '../src/peer.ts'
import { type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'
import { type DirectNet, directNet } from './direct-net.ts'

export interface LateJoiners {
  readonly universe: Universe
  readonly ids: readonly PeerId[]
  readonly peers: ReadonlyMap<PeerId, Peer<unknown>>
  readonly net: DirectNet
  /** Every peer's view of the shares agrees, and the first peer's holds `count` shares. */
  readonly agreed: () => boolean
  /** The shares as the first peer sees them. */
  readonly sizes: () => bigint[]
  /** Ticks until `settled` held and nothing was sent for `quiet` ticks in a row, at most `maxTicks`. */
  readonly runQuiet: (settled: () => boolean, quiet: number, maxTicks: number) => number
}

export function lateJoiners (count: number, seeded: number, maxLate: number, delaySeed: number): LateJoiners {
  const universe = parseUniverse('10.32.0.0/12')
  const ids = Array.from({ length: count }, (_, i) => asPeerId(`p${String(i).padStart(2, '0')}`))
  const init = { kind: 'seed', peers: ids.slice(0, seeded) } as const
  const peers = new Map<PeerId, Peer<unknown>>(ids.map((id, i) => [id, createPeer({ id, nickname: id, universe, init, random: prng(i + 1).next, checks: false })]))
  for (const [id, p] of peers) p.setReachable(ids.filter(q => q !== id))
  const delay = prng(delaySeed)
  const net = directNet(peers, () => false, () => 1 + Math.floor(delay.next() * maxLate))
  for (const p of peers.values()) p.prime(1)
  const view = (p: Peer<unknown>): string => p.status().peers.map(x => `${x.peer}:${x.size}`).sort().join(' ')
  const sizes = (): bigint[] => peers.get(ids[0]!)!.status().peers.map(x => x.size)
  const agreed = (): boolean => {
    const views = [...peers.values()].map(view)
    return views.every(v => v === views[0]) && sizes().length === count
  }
  const runQuiet = (settled: () => boolean, quiet: number, maxTicks: number): number => {
    let ticks = 0
    for (let still = 0; still < quiet && ticks < maxTicks; ticks++) {
      const sent = net.counts.sent
      net.tick(1)
      still = settled() && net.counts.sent === sent ? still + 1 : 0
    }
    return ticks
  }
  return { universe, ids, peers, net, agreed, sizes, runQuiet }
}
