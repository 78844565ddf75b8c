/**
 * Random valid rings for property tests: replicas of one seeded ring that diverge through random
 * owner actions (give, coalesce, adopt, member records, removals) and partial merges, as peers would.
 */
import fc from 'fast-check'
import { Ring, asPeerId, parseUniverse } from '../src/internal.ts'
import type { PeerId, RingPart, RingState } from '../src/internal.ts'
import { runsOf } from '../src/runs.ts'

export const universe = parseUniverse('10.0.0.0/20')
export const PEERS: PeerId[] = ['pa', 'pb', 'pc', 'pd', 'pe'].map(asPeerId)

type Op =
  | { k: 'give', replica: number, from: number, to: number, at: number, len: number }
  | { k: 'member', replica: number, peer: number, nick: string, address: string | undefined }
  | { k: 'remove', replica: number, dead: number, heir: number }
  | { k: 'merge', into: number, from: number }
  | { k: 'coalesce' | 'adopt', replica: number, peer: number }

const idx = fc.nat({ max: PEERS.length - 1 })
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('give' as const), replica: fc.nat({ max: 2 }), from: idx, to: idx, at: fc.nat({ max: 4095 }), len: fc.integer({ min: 1, max: 600 }) }),
  fc.record({ k: fc.constant('member' as const), replica: fc.nat({ max: 2 }), peer: idx, nick: fc.constantFrom('one', 'two', 'three'), address: fc.constantFrom(undefined, '192.0.2.1', '2001:db8::7') }),
  fc.record({ k: fc.constant('remove' as const), replica: fc.nat({ max: 2 }), dead: idx, heir: idx }),
  fc.record({ k: fc.constant('merge' as const), into: fc.nat({ max: 2 }), from: fc.nat({ max: 2 }) }),
  fc.record({ k: fc.constantFrom('coalesce' as const, 'adopt' as const), replica: fc.nat({ max: 2 }), peer: idx })
)

const noAllocations = (): boolean => false

function apply (replicas: Ring[], op: Op): void {
  switch (op.k) {
    case 'give': {
      const r = replicas[op.replica]!
      const from = PEERS[op.from]!
      const to = PEERS[op.to]!
      if (from === to) return
      // Give part of one of `from`'s ranges, as `from` would from its own replica.
      const mine = r.rangesOf(from)
      const range = mine[op.at % Math.max(mine.length, 1)]
      if (range === undefined) return
      const start = range.start + BigInt(op.at) % (range.end - range.start)
      const end = start + BigInt(op.len) > range.end ? range.end : start + BigInt(op.len)
      r.give({ start, end }, from, to)
      return
    }
    // A removed peer writes nothing any more.
    case 'member': if (!replicas[op.replica]!.isRemoved(PEERS[op.peer]!)) replicas[op.replica]!.setMember(PEERS[op.peer]!, op.nick, op.address); return
    case 'remove':
      if (op.dead !== op.heir) replicas[op.replica]!.addRemoval(PEERS[op.dead]!, PEERS[op.heir]!)
      return
    case 'merge': replicas[op.into]!.merge(replicas[op.from]!.toState(), PEERS[0]!, noAllocations, PEERS[op.from]!); return
    case 'coalesce': replicas[op.replica]!.coalesce(PEERS[op.peer]!); return
    case 'adopt': replicas[op.replica]!.adopt(PEERS[op.peer]!)
  }
}

/** Three replica states of one cluster's ring after a random history. */
export const replicaStates: fc.Arbitrary<[RingState, RingState, RingState]> = fc
  .tuple(fc.integer({ min: 1, max: PEERS.length }), fc.array(opArb, { maxLength: 40 }))
  .map(([n, ops]) => {
    const base = Ring.empty(universe)
    base.claimForPeers(PEERS.slice(0, n))
    const replicas = [0, 1, 2].map(() => Ring.fromState(universe, base.toState()))
    for (const op of ops) apply(replicas, op)
    return [replicas[0]!.toState(), replicas[1]!.toState(), replicas[2]!.toState()]
  })

export function merged (a: RingState, b: RingState): RingState {
  const r = Ring.fromState(universe, a)
  r.merge(b, PEERS[0]!, noAllocations, PEERS[1]!)
  return r.toState()
}

/** A whole ring as a part, as a delta carries one. */
export function partOf ({ entries, ...rest }: RingState): RingPart {
  return { ...rest, runs: runsOf(entries, universe.size) }
}
