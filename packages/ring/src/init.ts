/**
 * How an empty ring gets its one split. `seed=`: at once, no vote. `consensus=N`: Paxos on key `init`
 * once something needs the ring; the lowest known peer proposes first, the others after a randomised
 * delay, once N peers are reachable or, once no more are coming (`stragglersDue`), a quorum; the
 * value is every peer reachable or heard from when the accept goes out (once all promised or, after
 * a grace period, a quorum), so a peer that is alive but slow to answer still gets its share.
 * `observer`: never votes, waits to be given a ring.
 *
 * The electorate is N or the number of peers known, whichever is larger, and an acceptor that knows
 * more says so: peers that joined later with the same N then cannot out-vote the first N and make a
 * second ring. An acceptor that already has a ring refuses and sends it instead.
 */
import type { Core } from './core.ts'
import { NACK_INITIALISED, electorateNack, nack, quorumOf } from './paxos.ts'
import { type Driver, type Policy, type ProposerState, due, newProposer, reply, run, start, tick, yieldTo } from './proposer.ts'
import { ringChanged, wholeRing } from './ring-sync.ts'
import type { PaxosMessage, PeerId } from './types.ts'
import { type VotingState, noteBallot, proposerEnv, recordOf, seenFor, vote } from './voting.ts'

export const INIT_KEY = 'init'

export interface InitState {
  /** Tick at which something first needed the ring (consensus waits for a need, as Weave does). */
  neededSince: number | null
  proposer: ProposerState
  /** Peers that sent us any init Paxos message: they vote, so they belong in the seed list. */
  readonly voters: Set<PeerId>
  /** How the peers known (this one and the reachable) came in since the need: see `stragglersDue`. */
  arrivals: Arrivals
}

/**
 * The most peers known since the need, the tick that count was reached, the longest wait between two
 * such ticks, and the tick a quorum was first known.
 */
export interface Arrivals {
  readonly most: number
  readonly at: number
  readonly longestGap: number
  readonly quorumAt: number | null
}

export const newInitState = (): InitState => ({ neededSince: null, proposer: newProposer(INIT_KEY, 0), voters: new Set(), arrivals: { most: 0, at: 0, longestGap: 0, quorumAt: null } })

/** A quorum waits for stragglers at most this many `initWait`s after it was first known. */
const STRAGGLER_WAITS = 10

/** `a` after `known` peers are known at `now`. */
function arrived (a: Arrivals, known: number, quorum: number, now: number): Arrivals {
  if (known <= a.most) return a
  return { most: known, at: now, longestGap: a.most === 0 ? 0 : Math.max(a.longestGap, now - a.at), quorumAt: a.quorumAt ?? (known >= quorum ? now : null) }
}

/**
 * Whether a quorum that knows fewer than N peers stops waiting for the rest: once none has come for
 * twice the longest wait between two arrivals so far (at least `initWait`), or STRAGGLER_WAITS
 * `initWait`s after the quorum was first known. A peer left out of the split collects its share in
 * trades afterwards, each a round trip and a change every peer must hear; a fixed 3 s left 14 of 50
 * agents out on a loaded machine, whose mesh brought a peer every 1-10 s.
 */
export function stragglersDue (a: Arrivals, initWait: number, now: number): boolean {
  if (a.quorumAt === null) return false
  return now - a.at >= Math.max(initWait, 2 * a.longestGap) || now - a.quorumAt >= STRAGGLER_WAITS * initWait
}

/** Splits the ring for `seeds` and announces it; a no-op if a ring arrived first. */
export function claim (c: Core, seeds: readonly PeerId[]): void {
  if (!c.ring.isEmpty()) return
  c.ring.claimForPeers(seeds)
  c.out.events.push({ kind: 'initialised', seeds: c.ring.seeds() })
  ringChanged(c)
}

/** Something (an allocate, a prime) needs the ring: consensus starts now. */
export function needRing (c: Core, st: InitState, v: VotingState): void {
  if (!c.ring.isEmpty() || c.init.kind !== 'consensus' || st.neededSince !== null) return
  st.neededSince = c.now
  const lowest = [...c.reachable].every(p => c.id < p)
  st.proposer = { ...st.proposer, nextAttempt: lowest ? c.now : c.now + c.t.grace + Math.floor(c.random() * c.t.grace) }
  initTick(c, st, v)
}

export function initTick (c: Core, st: InitState, v: VotingState): void {
  if (c.init.kind !== 'consensus' || st.neededSince === null) return
  if (!c.ring.isEmpty()) {
    if (st.proposer.proposal !== null) st.proposer = { ...st.proposer, proposal: null }
    return
  }
  if (c.init.kind === 'consensus') st.arrivals = arrived(st.arrivals, 1 + c.reachable.size, quorumOf(c.init.count), c.now)
  const d = driver(c, st, v)
  run(d, tick(st.proposer, d.env, d.policy))
  if (due(st.proposer, c.now)) tryPropose(c, st, v, c.init.count)
}

/** How many vote on init, as far as this peer can tell. */
const electorateOf = (c: Core, st: InitState, count: number): number => Math.max(count, 1 + c.reachable.size, st.proposer.electorate)

/**
 * The value is every peer reachable now and every voter heard from: a promise that is late on a
 * loaded machine must not cost a live peer its share. The accept waits for all to promise, or for
 * the grace period to settle for a quorum.
 */
const policy = (c: Core, st: InitState): Policy => ({
  candidate: p => [...new Set([c.id, ...c.reachable, ...st.voters, ...p.promisedBy])].sort(),
  acceptNow: (p, waited) => p.promisedBy.length >= p.electorate || waited >= c.t.grace
})

function driver (c: Core, st: InitState, v: VotingState): Driver {
  return {
    self: c.id,
    policy: policy(c, st),
    env: proposerEnv(c),
    get: () => st.proposer,
    set: next => { st.proposer = next },
    send: msg => c.out.send('all', { type: 'paxos', key: INIT_KEY, msg }),
    vote: msg => vote(c, v, INIT_KEY, msg),
    decided: value => claim(c, value),
    nacked: () => {}
  }
}

function tryPropose (c: Core, st: InitState, v: VotingState, count: number): void {
  const known = 1 + c.reachable.size
  const waited = c.now - (st.neededSince ?? c.now)
  // Stragglers are waited for, boundedly: with fewer than N reachable, a quorum proposes once they stop coming.
  if (known < count && (known < quorumOf(count) || !stragglersDue(st.arrivals, c.t.initWait, c.now))) return
  // More peers than N: a ring most likely exists already; give its gossip time to arrive first.
  if (known > count && waited < 2 * c.t.grace) return
  run(driver(c, st, v), start(st.proposer, c.id, seenFor(v, INIT_KEY), electorateOf(c, st, count), c.now))
}

/** An init Paxos message from another peer. */
export function onInitMessage (c: Core, st: InitState, v: VotingState, from: PeerId, msg: PaxosMessage): void {
  if (c.init.kind === 'observer') return
  noteBallot(v, INIT_KEY, msg)
  st.voters.add(from)
  if (msg.kind === 'prepare' || msg.kind === 'accept') {
    if (c.init.kind === 'consensus') st.proposer = yieldTo(st.proposer, c.id, msg.ballot, proposerEnv(c))
    const record = recordOf(v, INIT_KEY)
    const known = c.init.kind === 'consensus' ? electorateOf(c, st, c.init.count) : 0
    let reply: PaxosMessage
    if (!c.ring.isEmpty()) reply = nack(msg.ballot, record, NACK_INITIALISED)
    else if (msg.kind === 'prepare' && msg.electorate < known) reply = nack(msg.ballot, record, electorateNack(known))
    else reply = vote(c, v, INIT_KEY, msg)
    c.out.send(from, { type: 'paxos', key: INIT_KEY, msg: reply })
    // A latecomer proposing after the decision learns the ring from us.
    if (!c.ring.isEmpty()) c.out.send(from, wholeRing(c))
    return
  }
  if (c.init.kind !== 'consensus') return
  const d = driver(c, st, v)
  run(d, reply(st.proposer, from, msg, d.env, d.policy), from)
}
