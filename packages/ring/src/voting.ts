/**
 * Paxos as this peer takes part in it. The acceptor side of every decision: apply the message to the
 * persisted record, queue the record for the next persist (so the reply never leaves before it is on
 * disk), and remember the highest ballot seen so this peer's own proposals go above it. And what
 * this peer's proposers need of it: the time, its randomness and the ballot timeout.
 */
import type { Core } from './core.ts'
import { type Quorum, emptyRecord, highestN, onAccept, onPrepare, quorumOf } from './paxos.ts'
import { type Env, MAX_DOUBLINGS } from './proposer.ts'
import type { AcceptorRecord, PaxosMessage } from './types.ts'

export interface VotingState {
  readonly acceptors: Map<string, AcceptorRecord>
  /** Highest ballot number seen per Paxos key, so a new ballot goes above it. */
  readonly seenN: Map<string, number>
  /**
   * Ballots in a row that failed per key, over requests that gave up: the next request's first
   * ballot starts with the timeout the last one had grown to (a slow cluster stays slow).
   */
  readonly failures: Map<string, number>
}

export const newVotingState = (persisted: readonly AcceptorRecord[]): VotingState =>
  ({ acceptors: new Map(persisted.map(r => [r.key, r])), seenN: new Map(), failures: new Map() })

export function noteBallot (v: VotingState, key: string, msg: PaxosMessage): void {
  v.seenN.set(key, Math.max(v.seenN.get(key) ?? 0, highestN(msg)))
}

/** The persisted record for `key`, or an empty one. */
export const recordOf = (v: VotingState, key: string): AcceptorRecord => v.acceptors.get(key) ?? emptyRecord(key)

/** This peer's vote on a prepare or accept; the record change, if any, joins the next persist. */
export function vote (c: Core, v: VotingState, key: string, msg: Extract<PaxosMessage, { kind: 'prepare' | 'accept' }>): PaxosMessage {
  noteBallot(v, key, msg)
  const record = recordOf(v, key)
  const step = msg.kind === 'prepare' ? onPrepare(record, msg.ballot) : onAccept(record, msg.ballot, msg.value)
  if (step.record !== record) {
    v.acceptors.set(key, step.record)
    c.out.acceptor.set(key, step.record)
  }
  return step.reply
}

/** The ballot number a new proposal on `key` must go above: everything seen, and this peer's own promise. */
export function seenFor (v: VotingState, key: string): number {
  return Math.max(v.seenN.get(key) ?? 0, v.acceptors.get(key)?.promised?.n ?? 0)
}

/** A strict majority, or half for the planted `halfQuorum`. */
export const quorumFor = (c: Core): Quorum => c.faults.halfQuorum === true ? n => Math.max(1, Math.floor(n / 2)) : quorumOf

/** What a proposer needs of the peer: the time, its randomness, and the ballot timeout, also the base of its backoff. */
export const proposerEnv = (c: Core): Env => ({
  now: c.now,
  random: c.random,
  ballot: c.t.ballot,
  doublings: c.faults.fixedBallotTimeout === true ? 0 : MAX_DOUBLINGS,
  retry: { base: c.t.ballot, cap: 4 * c.t.ballot },
  quorum: quorumFor(c)
})
