/**
 * Single-decree Paxos as pure functions of plain state and one message. No I/O: the caller (peer.ts)
 * persists acceptor records before any reply leaves, routes messages, and decides who may vote.
 *
 * One decision per key (`init`, `takeover:<peer>`). The value is a sorted list of peer ids (the seed
 * list for `init`, the heir for a takeover). A proposer is always also an acceptor and sends its own
 * prepare to itself first, so its persisted promise stops it from reusing a ballot after a restart.
 */
import type { AcceptorRecord, Ballot, PaxosMessage, PeerId } from './types.ts'

export type Value = readonly PeerId[]

/** Orders ballots by n, then proposer id; null is below every ballot. */
export function compareBallots (a: Ballot | null, b: Ballot | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1
  if (a.n !== b.n) return a.n < b.n ? -1 : 1
  return a.proposer < b.proposer ? -1 : a.proposer > b.proposer ? 1 : 0
}

export const quorumOf = (electorate: number): number => Math.floor(electorate / 2) + 1

/** The quorum for an electorate: `quorumOf`, unless a test plants another. */
export type Quorum = (electorate: number) => number

export function emptyRecord (key: string): AcceptorRecord {
  return { key, promised: null, accepted: null }
}

/** What an acceptor does with one message: its record afterwards (same object if unchanged) and its reply. */
export interface AcceptorStep {
  readonly record: AcceptorRecord
  readonly reply: PaxosMessage
}

/** Nack reasons. `electorate:<k>` tells a takeover proposer that the acceptor knows k voters. */
export const NACK_PROMISED = 'promised-higher'
export const NACK_PEER_ALIVE = 'peer-alive'
export const NACK_INITIALISED = 'initialised'
export const electorateNack = (known: number): string => `electorate:${known}`
export function parseElectorateNack (reason: string): number | null {
  const m = /^electorate:(\d+)$/.exec(reason)
  return m === null ? null : Number(m[1])
}

export function nack (ballot: Ballot, record: AcceptorRecord, reason: string): PaxosMessage {
  return { kind: 'nack', ballot, promised: record.promised, reason }
}

export function onPrepare (record: AcceptorRecord, ballot: Ballot): AcceptorStep {
  const cmp = compareBallots(ballot, record.promised)
  if (cmp < 0) return { record, reply: nack(ballot, record, NACK_PROMISED) }
  const next = cmp === 0 ? record : { ...record, promised: ballot }
  return { record: next, reply: { kind: 'promise', ballot, accepted: record.accepted } }
}

export function onAccept (record: AcceptorRecord, ballot: Ballot, value: Value): AcceptorStep {
  if (compareBallots(ballot, record.promised) < 0) return { record, reply: nack(ballot, record, NACK_PROMISED) }
  const same = record.accepted !== null && compareBallots(record.accepted.ballot, ballot) === 0 &&
    compareBallots(record.promised, ballot) === 0
  const next = same ? record : { key: record.key, promised: ballot, accepted: { ballot, value: [...value] } }
  return { record: next, reply: { kind: 'accepted', ballot } }
}

export type Phase = 'preparing' | 'accepting' | 'decided'

/** One proposal in flight. Voters are counted by id, so duplicated messages count once. */
export interface Proposal {
  readonly key: string
  readonly ballot: Ballot
  readonly electorate: number
  readonly phase: Phase
  readonly promisedBy: readonly PeerId[]
  readonly highest: AcceptorRecord['accepted']
  /** Set once a quorum promised: the value sent in accept. */
  readonly value: Value | null
  readonly acceptedBy: readonly PeerId[]
}

/** Starts a proposal with a ballot above every one seen (`seenN`); the caller sends the prepare. */
export type Prepare = Extract<PaxosMessage, { kind: 'prepare' }>
export type Accept = Extract<PaxosMessage, { kind: 'accept' }>

export function propose (key: string, self: PeerId, seenN: number, electorate: number): { proposal: Proposal, prepare: Prepare } {
  const ballot: Ballot = { n: seenN + 1, proposer: self }
  const proposal: Proposal = {
    key, ballot, electorate, phase: 'preparing', promisedBy: [], highest: null, value: null, acceptedBy: []
  }
  return { proposal, prepare: { kind: 'prepare', ballot, electorate } }
}

const isFor = (p: Proposal, ballot: Ballot): boolean => compareBallots(p.ballot, ballot) === 0

/** Records a promise from `from` (a duplicate counts once), keeping the highest accepted value reported. */
export function onPromise (p: Proposal, from: PeerId, msg: Extract<PaxosMessage, { kind: 'promise' }>): Proposal {
  if (p.phase !== 'preparing' || !isFor(p, msg.ballot) || p.promisedBy.includes(from)) return p
  const highest = msg.accepted !== null && compareBallots(msg.accepted.ballot, p.highest?.ballot ?? null) > 0 ? msg.accepted : p.highest
  return { ...p, promisedBy: [...p.promisedBy, from], highest }
}

export const hasPromiseQuorum = (p: Proposal, quorum: Quorum = quorumOf): boolean =>
  p.phase === 'preparing' && p.promisedBy.length >= quorum(p.electorate)

/**
 * Moves a proposal whose quorum promised to phase 2. `candidate` is used only if no acceptor reported
 * an accepted value: Paxos' one rule is that such a value must be carried forward.
 */
export function beginAccept (p: Proposal, candidate: Value, quorum: Quorum = quorumOf): { proposal: Proposal, accept: Accept } {
  if (!hasPromiseQuorum(p, quorum)) throw new Error(`beginAccept on ${p.key} without a quorum of promises`)
  const value = p.highest !== null ? [...p.highest.value] : [...candidate]
  return { proposal: { ...p, phase: 'accepting', value }, accept: { kind: 'accept', ballot: p.ballot, value } }
}

/** An accepted from `from`. The proposal is decided once a quorum accepted its ballot. */
export function onAccepted (p: Proposal, from: PeerId, msg: Extract<PaxosMessage, { kind: 'accepted' }>, quorum: Quorum = quorumOf): Proposal {
  if (p.phase !== 'accepting' || !isFor(p, msg.ballot) || p.acceptedBy.includes(from)) return p
  const acceptedBy = [...p.acceptedBy, from]
  return { ...p, acceptedBy, phase: acceptedBy.length >= quorum(p.electorate) ? 'decided' : 'accepting' }
}

/** Whether a nack concerns this proposal (a stale nack for an older ballot is ignored). */
export const nackIsFor = (p: Proposal, msg: Extract<PaxosMessage, { kind: 'nack' }>): boolean =>
  p.phase !== 'decided' && isFor(p, msg.ballot)

/** The highest ballot number a message shows, so a retry can go above it. */
export function highestN (msg: PaxosMessage): number {
  const ns = [msg.ballot.n]
  if (msg.kind === 'nack' && msg.promised !== null) ns.push(msg.promised.n)
  if (msg.kind === 'promise' && msg.accepted !== null) ns.push(msg.accepted.ballot.n)
  return Math.max(...ns)
}

/** Structural validation of a message from the network: nonsense must be refused, not acted on. */
export function validatePaxos (msg: unknown): string | null {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null
  const ballotOk = (b: unknown): boolean =>
    isObj(b) && Number.isSafeInteger(b.n) && (b.n as number) >= 0 && typeof b.proposer === 'string' && b.proposer.length > 0
  const valueOk = (v: unknown): boolean => Array.isArray(v) && v.length > 0 &&
    v.every((p, i) => typeof p === 'string' && p.length > 0 && (i === 0 || (v[i - 1] as string) < p))
  if (!isObj(msg)) return 'paxos message is not an object'
  if (!ballotOk(msg.ballot)) return 'bad ballot'
  switch (msg.kind) {
    case 'prepare': return Number.isSafeInteger(msg.electorate) && (msg.electorate as number) > 0 ? null : 'bad electorate'
    case 'promise': {
      const a = msg.accepted
      return a === null || (isObj(a) && ballotOk(a.ballot) && valueOk(a.value)) ? null : 'bad accepted value'
    }
    case 'accept': return valueOk(msg.value) ? null : 'bad value'
    case 'accepted': return null
    case 'nack': return (msg.promised === null || ballotOk(msg.promised)) && typeof msg.reason === 'string' ? null : 'bad nack'
    default: return `unknown paxos message kind ${String(msg.kind)}`
  }
}
