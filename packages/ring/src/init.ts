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
import { NACK_INITIALISED, electorateNack, emptyRecord, nack, quorumOf } from './paxos.ts'
import { type Driver, type Policy, due, reply, run, start, tick } from './proposer.ts'
import { type PeerState, proposerEnv, ringChanged, send, snapshot } from './state.ts'
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
  st.proposer = { ...st.proposer, nextAttempt: lowest ? s.now : s.now + s.t.grace + Math.floor(s.random() * s.t.grace) }
  initTick(s)
}

export function initTick (s: PeerState): void {
  const st = s.initState
  if (s.init.kind !== 'consensus' || st.neededSince === null) return
  if (!s.ring.isEmpty()) { st.proposer = { ...st.proposer, proposal: null }; return }
  const d = driver(s)
  run(d, tick(st.proposer, d.env, d.policy))
  if (due(st.proposer, s.now)) tryPropose(s, s.init.count)
}

/** How many vote on init, as far as this peer can tell. */
const electorateOf = (s: PeerState, count: number): number => Math.max(count, 1 + s.reachable.size, s.initState.proposer.electorate)

/**
 * The value is every voter heard from; the accept waits for all to promise, or for the grace
 * period to settle for a quorum.
 */
const policy = (s: PeerState): Policy => ({
  candidate: p => [...new Set([s.id, ...s.initState.voters, ...p.promisedBy])].sort(),
  acceptNow: (p, waited) => p.promisedBy.length >= p.electorate || waited >= s.t.grace
})

function driver (s: PeerState): Driver {
  return {
    self: s.id,
    policy: policy(s),
    env: proposerEnv(s),
    get: () => s.initState.proposer,
    set: st => { s.initState.proposer = st },
    send: msg => send(s, 'all', { type: 'paxos', key: INIT_KEY, msg }),
    vote: msg => vote(s, INIT_KEY, msg),
    decided: value => claim(s, value),
    nacked: () => {}
  }
}

function tryPropose (s: PeerState, count: number): void {
  const st = s.initState
  const known = 1 + s.reachable.size
  const waited = s.now - (st.neededSince ?? s.now)
  if (known < count && (known < quorumOf(count) || waited < s.t.grace)) return
  // More peers than N: a ring most likely exists already; give its gossip time to arrive first.
  if (known > count && waited < 2 * s.t.grace) return
  run(driver(s), start(st.proposer, s.id, seenFor(s, INIT_KEY), electorateOf(s, count), s.now))
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
  if (s.init.kind !== 'consensus') return
  const d = driver(s)
  run(d, reply(s.initState.proposer, from, msg, d.env, d.policy), from)
}
