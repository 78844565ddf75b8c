/**
 * The proposer side of single-decree Paxos, written once for every decision a peer proposes (init,
 * takeover). Pure: it takes the time, the randomness and the replies, and returns what to send and
 * what was decided. What differs between uses is a Policy: the value to propose, when to send the
 * accept, and (in the caller) who the voters are.
 *
 * Liveness, on a loaded machine and with dozens of proposers:
 * - A failed ballot (a nack, a timeout) is retried after a randomised delay that grows with each
 *   failure up to a cap, so duelling proposers drift apart instead of pre-empting each other forever.
 * - The ballot timeout adapts: it doubles with each consecutive failure (up to MAX_DOUBLINGS), so
 *   replies slower than the configured timeout (a starved peer, a busy machine) still arrive within
 *   some ballot, instead of every ballot timing out just before its quorum answers.
 * - A proposer yields: a prepare or accept of a higher ballot from another proposer (seen as an
 *   acceptor) ends its own ballot and holds its next one back for a whole ballot timeout, so the
 *   higher one can finish. With the callers' distinguished proposer (init: the lowest known peer
 *   goes first), this leaves one ballot in flight at a time.
 * A nack that shows a larger electorate is no duel: the retry against it goes out at once.
 */
import {
  type Accept, type Prepare, type Proposal, type Quorum, type Value, beginAccept, compareBallots, hasPromiseQuorum, nackIsFor, onAccepted,
  onPromise, parseElectorateNack, propose
} from './paxos.ts'
import type { Ballot, PaxosMessage, PeerId } from './types.ts'

/** Ticks. The n-th consecutive failure waits 1 + a uniform draw below min(cap, base * 2^(n-1)). */
export interface Retry {
  readonly base: number
  readonly cap: number
}

export interface ProposerState {
  readonly key: string
  readonly proposal: Proposal | null
  readonly proposedAt: number
  /** No new ballot before this tick. */
  readonly nextAttempt: number
  /** Consecutive failed ballots: what the backoff grows with. */
  readonly failures: number
  /** The largest electorate an acceptor told of. */
  readonly electorate: number
  /** The most promises any ballot got, for a no-quorum message. */
  readonly bestPromises: number
}

export interface Policy {
  /** The value proposed if no acceptor reports one already accepted. */
  readonly candidate: (p: Proposal) => Value
  /** With a quorum of promises: whether to send the accept now, or wait for more promises. */
  readonly acceptNow: (p: Proposal, waited: number) => boolean
}

export interface Env {
  readonly now: number
  /** Uniform in [0, 1). */
  readonly random: () => number
  /** How long one ballot may take before it counts as failed. */
  readonly ballot: number
  /** How often that timeout may double with failures in a row (MAX_DOUBLINGS; 0 for a planted bug). */
  readonly doublings: number
  readonly retry: Retry
  /** A planted bug's quorum; a strict majority (`quorumOf`) if absent. */
  readonly quorum?: Quorum
}

/** What the caller does next: send `send` to the voters (itself first), act on a decision or a nack. */
export interface Step {
  readonly state: ProposerState
  readonly send: Prepare | Accept | null
  readonly decided: Value | null
  /** The reason of a nack for the current ballot. */
  readonly nack: string | null
}

/** The ballot timeout doubles at most this many times: 32 x the configured one. */
export const MAX_DOUBLINGS = 5

/** `failures`: carried over from an earlier proposer of the same key, so its slowness is not forgotten. */
export const newProposer = (key: string, nextAttempt: number, electorate = 0, failures = 0): ProposerState =>
  ({ key, proposal: null, proposedAt: 0, nextAttempt, failures, electorate, bestPromises: 0 })

const step = (state: ProposerState, send: Prepare | Accept | null = null, decided: Value | null = null, nack: string | null = null): Step =>
  ({ state, send, decided, nack })

/** The delay before the retry after `failures` consecutive failed ballots. */
export function backoff (failures: number, retry: Retry, random: () => number): number {
  const span = Math.min(retry.cap, retry.base * 2 ** Math.max(0, failures - 1))
  return 1 + Math.floor(random() * span)
}

/** How long the current ballot may take: the configured timeout, doubled per consecutive failure. */
export const ballotTimeout = (st: ProposerState, env: Env): number => env.ballot * 2 ** Math.min(st.failures, env.doublings)

/**
 * Another proposer's `ballot` was seen (this peer voted on it). If it is above this proposer's own,
 * the own one cannot win at that acceptor: drop it, and wait a whole ballot timeout (and a random
 * part of one) before the next, which gives the higher ballot time to be decided.
 */
export function yieldTo (st: ProposerState, self: PeerId, ballot: Ballot, env: Env): ProposerState {
  if (ballot.proposer === self) return st
  const own = st.proposal
  if (own !== null && compareBallots(own.ballot, ballot) >= 0) return st
  const wait = ballotTimeout(st, env)
  const until = env.now + wait + Math.floor(env.random() * wait)
  return { ...st, proposal: null, nextAttempt: Math.max(st.nextAttempt, until) }
}

/** Whether a new ballot may start now. */
export const due = (st: ProposerState, now: number): boolean => st.proposal === null && now >= st.nextAttempt

/** A new ballot above `seenN` with `electorate` voters (never fewer than an acceptor told of). */
export function start (st: ProposerState, self: PeerId, seenN: number, electorate: number, now: number): Step {
  const { proposal, prepare } = propose(st.key, self, seenN, Math.max(electorate, st.electorate))
  return step({ ...st, proposal, proposedAt: now }, prepare)
}

function failed (st: ProposerState, env: Env): ProposerState {
  const failures = st.failures + 1
  return { ...st, proposal: null, failures, nextAttempt: env.now + backoff(failures, env.retry, env.random) }
}

function maybeAccept (st: ProposerState, env: Env, policy: Policy): Step {
  const p = st.proposal
  if (p === null || !hasPromiseQuorum(p, env.quorum) || !policy.acceptNow(p, env.now - st.proposedAt)) return step(st)
  const { proposal, accept } = beginAccept(p, policy.candidate(p), env.quorum)
  return step({ ...st, proposal }, accept)
}

/** Time passes: an accept that waited for more promises may go now; a ballot that took too long failed. */
export function tick (st: ProposerState, env: Env, policy: Policy): Step {
  const s = maybeAccept(st, env, policy)
  if (s.send !== null || s.state.proposal === null || env.now - s.state.proposedAt < ballotTimeout(s.state, env)) return s
  return step(failed(s.state, env))
}

/** A reply from `from` (this peer's own vote included) to the current ballot. */
export function reply (st: ProposerState, from: PeerId, msg: PaxosMessage, env: Env, policy: Policy): Step {
  const p = st.proposal
  if (p === null) return step(st)
  if (msg.kind === 'promise') {
    const q = onPromise(p, from, msg)
    return maybeAccept({ ...st, proposal: q, bestPromises: Math.max(st.bestPromises, q.promisedBy.length) }, env, policy)
  }
  if (msg.kind === 'accepted') {
    const q = onAccepted(p, from, msg, env.quorum)
    if (q.phase !== 'decided' || q.value === null) return step({ ...st, proposal: q })
    return step({ ...st, proposal: null, failures: 0 }, null, q.value)
  }
  if (msg.kind !== 'nack' || !nackIsFor(p, msg)) return step(st)
  const more = parseElectorateNack(msg.reason)
  if (more !== null && more > Math.max(st.electorate, p.electorate)) {
    return step({ ...st, proposal: null, electorate: more, nextAttempt: env.now }, null, null, msg.reason)
  }
  // A nack naming another proposer's higher promise: that one is under way, so yield to it too.
  const lost = failed(st, env)
  const yielded = msg.promised === null ? lost : yieldTo(lost, p.ballot.proposer, msg.promised, env)
  return step(yielded, null, null, msg.reason)
}

/** How one use sends and votes; `run` loops a step's message through this peer's own vote. */
export interface Driver {
  readonly self: PeerId
  readonly policy: Policy
  readonly env: Env
  get (): ProposerState
  set (st: ProposerState): void
  /** To every other voter. */
  send (msg: Prepare | Accept): void
  /** This peer's own answer as an acceptor. */
  vote (msg: Prepare | Accept): PaxosMessage
  decided (value: Value): void
  nacked (from: PeerId, reason: string): void
}

/** Applies a step: stores the state, sends its message and feeds back this peer's own vote on it. */
export function run (d: Driver, s: Step, from: PeerId = d.self): void {
  d.set(s.state)
  if (s.nack !== null) d.nacked(from, s.nack)
  if (s.decided !== null) d.decided(s.decided)
  if (s.send === null) return
  d.send(s.send)
  run(d, reply(d.get(), d.self, d.vote(s.send), d.env, d.policy))
}
