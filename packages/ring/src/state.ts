/**
 * The mutable state of one peer and the few operations every part of it shares: absorbing a ring,
 * reacting to a ring change, queueing output, and checking invariants. peer.ts composes the parts
 * (init.ts, allocation.ts, donation.ts, takeover.ts) over this one object.
 */
import type { Universe } from './address.ts'
import type { Ring } from './ring.ts'
import { statesEqual } from './shape.ts'
import type { NodeInitState } from './node-init.ts'
import type { Outbox } from './outbox.ts'
import { usableRanges } from './owned.ts'
import type { Env, ProposerState } from './proposer.ts'
import type { Space } from './space.ts'
import { IntervalSet } from './intervals.ts'
import type {
  AcceptorRecord, CoreError, CoreErrorCode, Entry, InitMode, Message, Offset, PeerId, RequestId, RingState
} from './types.ts'

/** A peer's own checks failed: a bug, never bad input. The peer must not go on. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError'
}

/** All in ticks. */
export interface Timeouts {
  /** How long an allocate or prime waits before it fails retryable. */
  readonly request: number
  /** How long to wait for a donor's answer. */
  readonly ask: number
  /** How long one Paxos ballot may take before a retry: longer than `grace`, which a ballot may wait out before its accept phase. */
  readonly ballot: number
  /** consensus=N: how long to wait for all N before settling for a quorum. */
  readonly grace: number
  /** Anti-entropy: the whole ring is broadcast this often. */
  readonly gossip: number
  /** Free counts are reported into the ring at most this often. */
  readonly freeReport: number
  /** How long rmpeer may take before it fails with no-quorum. */
  readonly takeover: number
  /** After every donor was tried: wait this long before trying them again. */
  readonly backoff: number
  /** kubernetes init: how long the initialiser waits for the agents of younger listed nodes. */
  readonly nodeWait: number
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  request: 30, ask: 4, ballot: 12, grace: 6, gossip: 8, freeReport: 4, takeover: 20, backoff: 4, nodeWait: 50
}

/** Deliberate bugs, for tests that prove the simulator catches them. Never set outside tests. */
export interface Faults {
  /** Weave's merge: on equal versions the local entry wins, so rings need not converge. */
  readonly mineWinsTies?: boolean
  /** A donor keeps allocating in the range it just gave away. */
  readonly donorKeeps?: boolean
  /** rmpeer removes the peer at once, with no vote. */
  readonly takeoverWithoutConsensus?: boolean
  /** The heir uses inherited ranges at once, without waiting for every member's ack. */
  readonly heirSkipsSettle?: boolean
  /** kubernetes init: the initialiser does not wait for rivals and near-simultaneous nodes. */
  readonly initialiserSkipsWait?: boolean
}

export interface PendingAllocate {
  readonly id: RequestId
  readonly key: string
  readonly address: Offset | null
  readonly deadline: number
}

export interface Ask {
  readonly deadline: number
  readonly address: Offset | null
}

export interface Takeover {
  readonly id: RequestId
  readonly target: PeerId
  /** The target's space when the request began: what the heir reports if the ring tells it first. */
  readonly size: bigint
  readonly deadline: number
  /** The count of voters this peer knows; an acceptor's nack may raise the proposer's. */
  readonly voters: number
  proposer: ProposerState
}

export interface InitState {
  /** Tick at which something first needed the ring (consensus waits for a need, as Weave does). */
  neededSince: number | null
  proposer: ProposerState
  /** Peers that sent us any init Paxos message: they vote, so they belong in the seed list. */
  readonly voters: Set<PeerId>
}

export interface PeerState {
  readonly id: PeerId
  readonly nickname: string
  readonly address: string | undefined
  readonly universe: Universe
  readonly init: InitMode
  readonly random: () => number
  readonly lowWater: bigint
  readonly t: Timeouts
  readonly faults: Faults
  readonly ring: Ring
  readonly space: Space
  /** key -> offset: every allocation this peer holds. */
  readonly allocations: Map<string, Offset>
  readonly acceptors: Map<string, AcceptorRecord>
  /** Highest ballot number seen per Paxos key, so a new ballot goes above it. */
  readonly seenN: Map<string, number>
  reachable: Set<PeerId>
  now: number
  /** Set when this peer learns it was removed: the heir. It then does nothing more. */
  removedBy: PeerId | null
  conflicts: number
  out: Outbox
  /** Peer -> our ring (the cached object) at the time that peer sent us exactly the same ring. */
  readonly synced: Map<PeerId, RingState>
  /** Counts changes to ring, space and allocations, so checks run only after something changed. */
  mutations: number
  /** The ring as data, cached until the next change: gossip and merges compare against it often. */
  snap: RingState | null
  readonly pending: PendingAllocate[]
  readonly primes: Array<{ readonly id: RequestId, readonly deadline: number }>
  readonly initState: InitState
  readonly nodeInit: NodeInitState
  readonly asks: Map<PeerId, Ask>
  readonly tried: Set<PeerId>
  backoffUntil: number
  readonly takeovers: Map<PeerId, Takeover>
}

/** What a proposer needs of the peer: the time, its randomness, and the ballot timeout, also the base of its backoff. */
export const proposerEnv = (s: PeerState): Env =>
  ({ now: s.now, random: s.random, ballot: s.t.ballot, retry: { base: s.t.ballot, cap: 4 * s.t.ballot } })

export const coreError = (code: CoreErrorCode, message: string, retryable: boolean): CoreError => ({ code, message, retryable })

export function fail (s: PeerState, id: RequestId, code: CoreErrorCode, message: string, retryable: boolean): void {
  s.out.completions.push({ id, ok: false, error: coreError(code, message, retryable) })
}

export function send (s: PeerState, to: PeerId | 'all', msg: Message): void {
  s.out.messages.push({ to, msg })
}

export function snapshot (s: PeerState): RingState {
  s.snap ??= s.ring.toState()
  return s.snap
}

/**
 * Merges a received ring. A ring that fails validation, or was seeded by another decision, changes
 * nothing and is recorded as `rejected-ring`. Returns whether it was accepted.
 */
export function absorbRing (s: PeerState, from: PeerId, incoming: RingState): boolean {
  // Most gossip repeats what this peer has; a cheap comparison spares the merge.
  if (incoming === s.snap || statesEqual(incoming, snapshot(s))) {
    s.synced.set(from, snapshot(s))
    return true
  }
  let result
  try {
    const state = s.faults.mineWinsTies === true ? mineWinsTies(s.ring.entries(), incoming) : incoming
    result = s.ring.merge(state, s.id, r => s.space.hasAllocationsIn(r), from)
  } catch (e) {
    s.out.events.push({ kind: 'rejected-ring', from, reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) })
    return false
  }
  for (const c of result.conflicts) s.out.events.push(c)
  s.conflicts += result.conflicts.length
  if (result.changed) ringChanged(s, false)
  if (statesEqual(incoming, snapshot(s))) s.synced.set(from, snapshot(s))
  else s.synced.delete(from)
  return true
}

function mineWinsTies (local: readonly Entry[], incoming: RingState): RingState {
  const mine = new Map(local.map(e => [e.token, e]))
  const entries = incoming.entries.map(e => {
    const m = mine.get(e.token)
    return m !== undefined && m.version === e.version ? m : e
  })
  return { ...incoming, entries }
}

/**
 * Anti-entropy is needed only if some reachable peer may not hold exactly our ring: one whose last
 * ring to us was different, or was the same before our ring changed. A quiet cluster sends nothing.
 */
export function anyoneBehind (s: PeerState): boolean {
  const mine = snapshot(s)
  for (const p of s.reachable) if (s.synced.get(p) !== mine) return true
  return false
}

/**
 * After any change to the ring: persist it, keep this peer's member record and acks, adopt settled
 * inheritances, stop if this peer was removed, and bring the space in line. Gossip it only if this
 * peer changed something itself: what a merge brought in, its sender has broadcast already, and
 * re-broadcasting every merge would cost every peer's change a message per pair of peers.
 */
export function ringChanged (s: PeerState, local = true): void {
  s.out.ringDirty = true
  if (local) s.out.gossip = true
  s.snap = null
  s.mutations++
  const heir = s.ring.isRemoved(s.id) ? s.ring.effectiveOwner(s.id) : null
  if (heir !== null) {
    if (s.removedBy === null) {
      s.removedBy = heir
      s.out.events.push({ kind: 'removed-self', heir })
    }
    return
  }
  if (!s.ring.isEmpty()) {
    const own = [s.ring.setMember(s.id, s.nickname, s.address), s.ring.ackRemovals(s.id), allInheritancesSettled(s) && s.ring.adopt(s.id)]
    if (own.some(Boolean)) s.out.gossip = true
    s.snap = null
  }
  const lost = s.space.setOwned(usableRanges(s.ring, s.id, s.faults.heirSkipsSettle === true))
  if (lost.length > 0) throw new InvariantError(`${s.id}: ring change took ${lost.length} allocated addresses, e.g. offset ${lost[0]}`)
}

/** Whether every removal whose ranges end with this peer is acknowledged by every member. */
function allInheritancesSettled (s: PeerState): boolean {
  return s.ring.removals().every(r => s.ring.effectiveOwner(r.peer) !== s.id || s.ring.settled(r.peer))
}

export function putAllocation (s: PeerState, key: string, offset: Offset): void {
  s.allocations.set(key, offset)
  s.out.allocations.set(key, offset)
  s.mutations++
}

export function deleteAllocation (s: PeerState, key: string): void {
  s.allocations.delete(key)
  s.out.allocations.set(key, null)
  s.mutations++
}

/** The ring's and space's own invariants, and that the two agree. Cheap enough to run after every call. */
export function checkPeer (s: PeerState): Error | null {
  const e = s.ring.checkInvariants() ?? s.space.checkInvariants()
  if (e !== null) return e
  if (s.removedBy !== null) return null
  const usable = IntervalSet.of(usableRanges(s.ring, s.id, s.faults.heirSkipsSettle === true))
  if (!usable.equals(IntervalSet.of(s.space.owned()))) return new InvariantError(`${s.id}: space owns other ranges than the ring gives it`)
  if (usable.minus(IntervalSet.of(s.ring.rangesOf(s.id))).count() !== 0n) return new InvariantError(`${s.id}: uses ranges the ring gives to others`)
  if (s.allocations.size !== s.space.allocatedCount()) return new InvariantError(`${s.id}: ${s.allocations.size} allocations but ${s.space.allocatedCount()} allocated offsets`)
  for (const [key, o] of s.allocations) {
    if (!s.space.isAllocated(o)) return new InvariantError(`${s.id}: allocation ${key} at ${o} is not marked allocated`)
    if (!usable.has(o)) return new InvariantError(`${s.id}: allocation ${key} at ${o} lies outside its ranges`)
  }
  return null
}
