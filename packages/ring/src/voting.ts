/**
 * The acceptor side of every decision this peer takes part in: apply the message to the persisted
 * record, queue the record for the next persist (so the reply never leaves before it is on disk),
 * and remember the highest ballot seen so this peer's own proposals go above it.
 */
import { emptyRecord, highestN, onAccept, onPrepare } from './paxos.ts'
import type { PeerState } from './state.ts'
import type { PaxosMessage } from './types.ts'

export function noteBallot (s: PeerState, key: string, msg: PaxosMessage): void {
  s.seenN.set(key, Math.max(s.seenN.get(key) ?? 0, highestN(msg)))
}

/** This peer's vote on a prepare or accept; the record change, if any, joins the next persist. */
export function vote (s: PeerState, key: string, msg: Extract<PaxosMessage, { kind: 'prepare' | 'accept' }>): PaxosMessage {
  noteBallot(s, key, msg)
  const record = s.acceptors.get(key) ?? emptyRecord(key)
  const step = msg.kind === 'prepare' ? onPrepare(record, msg.ballot) : onAccept(record, msg.ballot, msg.value)
  if (step.record !== record) {
    s.acceptors.set(key, step.record)
    s.out.acceptor.set(key, step.record)
  }
  return step.reply
}

/** The ballot number a new proposal on `key` must go above: everything seen, and this peer's own promise. */
export function seenFor (s: PeerState, key: string): number {
  return Math.max(s.seenN.get(key) ?? 0, s.acceptors.get(key)?.promised?.n ?? 0)
}
