/**
 * How an empty ring gets its one split. `seed=`: at once, no vote. `consensus=N`: Paxos on key `init`
 * once something needs the ring; the lowest known peer proposes first, the others after a randomised
 * delay; the value is every voter heard from, once all promised or, after a grace period, a quorum.
 * `observer`: never votes, waits to be given a ring.
 *
 * The electorate is N or the number of peers known, whichever is larger, and an acceptor that knows
 * more says so: peers that joined later with the same N then cannot out-vote the first N and make a
 * second ring. An acceptor that already has a ring refuses and sends it instead.
 */
import {
  NACK_INITIALISED, beginAccept, electorateNack, emptyRecord, hasPromiseQuorum, nack, nackIsFor, onAccepted, onPromise,
  parseElectorateNack, propose, quorumOf
} from './paxos.ts'
import { type PeerState, ringChanged, send, snapshot } from './state.ts'
import type { PaxosMessage, PeerId } from './types.ts'
import { noteBallot, seenFor, vote } from './voting.ts'

export const INIT_KEY = 'init'

/** Splits the ring for `seeds` and announces it; a no-op if a ring arrived first. */
export function claim (s: PeerState, seeds: readonly PeerId[]): void {
  if (!s.ring.isEmpty()) return
  s.ring.claimForPeers(seeds)
  s.out.events.push({ kind: 'initialised', seeds: s.ring.seeds() })
  ringChanged(s)
}

/** Something (an allocate, a prime) needs the ring: consensus starts now. */
export function needRing (s: PeerState): void {
  const st = s.initState
  if (!s.ring.isEmpty() || s.init.kind !== 'consensus' || st.neededSince !== null) return
  st.neededSince = s.now
  const lowest = [...s.reachable].every(p => s.id < p)
  st.nextAttempt = lowest ? s.now : s.now + s.t.grace + Math.floor(s.random() * s.t.grace)
  initTick(s)
}

export function initTick (s: PeerState): void {
  const st = s.initState
  if (s.init.kind !== 'consensus' || st.neededSince === null) return
  if (!s.ring.isEmpty()) { st.proposal = null; return }
  if (st.proposal !== null) {
    maybeAccept(s)
    if (st.proposal !== null && s.now - st.proposedAt >= s.t.ballot) retryLater(s)
  }
  if (st.proposal === null && s.now >= st.nextAttempt) tryPropose(s, s.init.count)
}

/** How many vote on init, as far as this peer can tell. */
const electorateOf = (s: PeerState, count: number): number => Math.max(count, 1 + s.reachable.size, s.initState.electorate)

function retryLater (s: PeerState): void {
  s.initState.proposal = null
  s.initState.nextAttempt = s.now + 1 + Math.floor(s.random() * s.t.ballot)
}

function tryPropose (s: PeerState, count: number): void {
  const st = s.initState
  const known = 1 + s.reachable.size
  const waited = s.now - (st.neededSince ?? s.now)
  if (known < count && (known < quorumOf(count) || waited < s.t.grace)) return
  // More peers than N: a ring most likely exists already; give its gossip time to arrive first.
  if (known > count && waited < 2 * s.t.grace) return
  const { proposal, prepare } = propose(INIT_KEY, s.id, seenFor(s, INIT_KEY), electorateOf(s, count))
  st.proposal = proposal
  st.proposedAt = s.now
  send(s, 'all', { type: 'paxos', key: INIT_KEY, msg: prepare })
  onReply(s, s.id, vote(s, INIT_KEY, prepare))
}

function maybeAccept (s: PeerState): void {
  const st = s.initState
  const p = st.proposal
  if (p === null || s.init.kind !== 'consensus' || !hasPromiseQuorum(p)) return
  if (p.promisedBy.length < p.electorate && s.now - st.proposedAt < s.t.grace) return
  const candidate = [...new Set([s.id, ...st.voters, ...p.promisedBy])].sort()
  const { proposal, accept } = beginAccept(p, candidate)
  st.proposal = proposal
  send(s, 'all', { type: 'paxos', key: INIT_KEY, msg: accept })
  onReply(s, s.id, vote(s, INIT_KEY, accept))
}

/** A reply to this peer's own proposal. */
function onReply (s: PeerState, from: PeerId, msg: PaxosMessage): void {
  const st = s.initState
  const p = st.proposal
  if (p === null) return
  if (msg.kind === 'promise') {
    st.proposal = onPromise(p, from, msg)
    maybeAccept(s)
  } else if (msg.kind === 'accepted') {
    const q = onAccepted(p, from, msg)
    st.proposal = q
    if (q.phase === 'decided' && q.value !== null) {
      st.proposal = null
      claim(s, q.value)
    }
  } else if (msg.kind === 'nack' && nackIsFor(p, msg)) {
    const more = parseElectorateNack(msg.reason)
    if (more !== null) st.electorate = Math.max(st.electorate, more)
    retryLater(s)
  }
}

/** An init Paxos message from another peer. */
export function onInitMessage (s: PeerState, from: PeerId, msg: PaxosMessage): void {
  if (s.init.kind === 'observer') return
  noteBallot(s, INIT_KEY, msg)
  s.initState.voters.add(from)
  if (msg.kind === 'prepare' || msg.kind === 'accept') {
    const record = s.acceptors.get(INIT_KEY) ?? emptyRecord(INIT_KEY)
    const known = s.init.kind === 'consensus' ? electorateOf(s, s.init.count) : 0
    let reply: PaxosMessage
    if (!s.ring.isEmpty()) reply = nack(msg.ballot, record, NACK_INITIALISED)
    else if (msg.kind === 'prepare' && msg.electorate < known) reply = nack(msg.ballot, record, electorateNack(known))
    else reply = vote(s, INIT_KEY, msg)
    send(s, from, { type: 'paxos', key: INIT_KEY, msg: reply })
    // A latecomer proposing after the decision learns the ring from us.
    if (!s.ring.isEmpty()) send(s, from, { type: 'ring', ring: snapshot(s) })
    return
  }
  onReply(s, from, msg)
}
