/**
 * rmpeer: taking over a dead peer's ranges. Paxos on key `takeover:<dead>` among every peer the ring
 * knows that is not removed, the dead one included; the value is the heir. A prepare carries the
 * proposer's count of voters, and an acceptor that knows more says so, so the proposer retries
 * against the larger electorate. The dead peer, if it answers at all, and any acceptor that can
 * still reach it say `peer-alive`. The decision becomes a Removal in the ring; the heir uses the
 * ranges only once every member has acknowledged it (owned.ts).
 */
import { failRemoved } from './allocation.ts'
import type { Core } from './core.ts'
import { NACK_PEER_ALIVE, type Value, electorateNack, nack } from './paxos.ts'
import { type Driver, type Policy, type ProposerState, ballotTimeout, due, newProposer, reply, run, start, tick, yieldTo } from './proposer.ts'
import { ringChanged } from './ring-sync.ts'
import type { PaxosMessage, PeerId, RequestId } from './types.ts'
import { type VotingState, noteBallot, proposerEnv, quorumFor, recordOf, seenFor, vote } from './voting.ts'

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

/** The removals this peer proposes, by target. */
export type Takeovers = Map<PeerId, Takeover>

const PREFIX = 'takeover:'
export const takeoverKey = (target: PeerId): string => PREFIX + target
export const takeoverTarget = (key: string): PeerId | null => key.startsWith(PREFIX) && key.length > PREFIX.length ? key.slice(PREFIX.length) as PeerId : null

/**
 * Who votes on removing `target`: every peer the ring names that is not removed (or whose removal is
 * not settled yet), `target` too. It never votes yes, but counting it means a quorum is a strict
 * majority of the whole cluster: a side of a partition that holds half or less cannot take over a
 * peer that is only cut off (and alive on the other side), and a peer alone with the dead one can
 * never decide on its own say.
 */
function electorate (s: Core, target: PeerId): PeerId[] {
  const known = s.ring.knownPeers()
  if (s.faults.reachableElectorate === true) return known.filter(p => p === s.id || s.reachable.has(p))
  // A peer removed still counts until its removal is settled: peers that have not heard of it yet
  // count it, and views of who votes must overlap (the reachability schedules found two heirs
  // when a side that had removed a peer cut off from it voted among the fewer peers left).
  const unsettled = s.ring.pendingRemovals().filter(p => !s.ring.settled(p))
  return [...new Set([...known, ...unsettled, target])]
}

/**
 * `force` skips the vote: for a cluster that lost half its peers or more for good, where no
 * majority can ever answer. Safe only if the target is really gone and no one else forces it.
 */
export function rmpeer (s: Core, ts: Takeovers, v: VotingState, id: RequestId, target: PeerId, force: boolean): void {
  if (s.removedBy !== null) { failRemoved(s, id); return }
  if (s.ring.isEmpty()) { s.out.fail(id, 'not-ready', 'no ring yet: nothing to take over', true); return }
  if (target === s.id) { s.out.fail(id, 'unknown-peer', 'a peer cannot remove itself', false); return }
  // A removed peer's record may be compacted away already; its removal stays.
  if (s.ring.isRemoved(target)) { s.out.completions.push({ kind: 'rmpeer', id, ok: true, takenOver: 0n }); return }
  const known = s.ring.member(target) !== undefined || s.ring.entries().some(e => e.owner === target)
  if (!known) { s.out.fail(id, 'unknown-peer', `${target} is not a peer of this ring`, false); return }
  if (s.reachable.has(target)) { s.out.fail(id, 'peer-alive', `${target} is reachable; only a dead peer can be removed`, false); return }
  if (ts.has(target)) { s.out.fail(id, 'not-ready', `a removal of ${target} is already under way`, true); return }
  const voters = electorate(s, target)
  const key = takeoverKey(target)
  const proposer = newProposer(key, s.now, 0, v.failures.get(key) ?? 0)
  // At least two ballots of the timeout grown so far: on a slow cluster one of them can finish.
  const deadline = s.now + Math.max(s.t.takeover, 2 * ballotTimeout(proposer, proposerEnv(s)))
  const t: Takeover = { id, target, size: s.ring.sizeOf(target), deadline, voters: voters.length, proposer }
  if (force || s.faults.takeoverWithoutConsensus === true) { decide(s, ts, v, t, [s.id]); return }
  const reachable = voters.filter(p => p === s.id || s.reachable.has(p)).length
  const q = quorumFor(s)(t.voters)
  if (reachable < q) {
    s.out.fail(id, 'no-quorum', `cannot remove ${target}: ${reachable} of ${voters.length} peers reachable (${target} counted), ${q} needed: a strict majority of the cluster must agree (if the others are gone for good too, force it)`, true)
    return
  }
  ts.set(target, t)
  attempt(s, ts, v, t)
}

/** The voters this peer reaches; the rest count towards the quorum but cannot answer. */
function sendToVoters (s: Core, t: Takeover, msg: PaxosMessage): void {
  for (const p of electorate(s, t.target)) {
    if (p !== s.id && s.reachable.has(p)) s.out.send(p, { type: 'paxos', key: takeoverKey(t.target), msg })
  }
}

/** The heir proposed is this peer; any quorum of promises will do. */
const policy = (s: Core): Policy => ({ candidate: () => [s.id], acceptNow: () => true })

function driver (s: Core, ts: Takeovers, v: VotingState, t: Takeover): Driver {
  return {
    self: s.id,
    policy: policy(s),
    env: proposerEnv(s),
    get: () => t.proposer,
    set: st => { t.proposer = st },
    send: msg => sendToVoters(s, t, msg),
    vote: msg => voteOn(s, v, t.target, msg),
    decided: value => decide(s, ts, v, t, value),
    nacked: (from, reason) => {
      if (reason !== NACK_PEER_ALIVE) return
      ts.delete(t.target)
      const who = from === t.target ? 'it answered' : `${from} can reach it`
      s.out.fail(t.id, 'peer-alive', `${t.target} is alive (${who}) and cannot be removed`, false)
    }
  }
}

function attempt (s: Core, ts: Takeovers, v: VotingState, t: Takeover): void {
  run(driver(s, ts, v, t), start(t.proposer, s.id, seenFor(v, takeoverKey(t.target)), t.voters, s.now))
}

function decide (s: Core, ts: Takeovers, v: VotingState, t: Takeover, value: Value): void {
  ts.delete(t.target)
  v.failures.delete(takeoverKey(t.target))
  const heir = value[0]!
  const size = s.ring.sizeOf(t.target)
  s.out.events.push({ kind: 'takeover', peer: t.target, heir })
  if (s.ring.addRemoval(t.target, heir)) ringChanged(s)
  s.out.completions.push({ kind: 'rmpeer', id: t.id, ok: true, takenOver: heir === s.id ? size : 0n })
}

/** This peer's answer, as an acceptor, to a prepare or accept about removing `target`. */
function voteOn (s: Core, v: VotingState, target: PeerId, msg: Extract<PaxosMessage, { kind: 'prepare' | 'accept' }>): PaxosMessage {
  const key = takeoverKey(target)
  const record = recordOf(v, key)
  // Refusing is always safe in Paxos: a peer that can reach the target keeps a cut-off proposer
  // (or a Kubernetes node list that is wrong) from removing a live peer.
  if (target === s.id || (s.reachable.has(target) && s.faults.ignorePeerAlive !== true)) return nack(msg.ballot, record, NACK_PEER_ALIVE)
  const known = electorate(s, target).length
  if (msg.kind === 'prepare' && known > msg.electorate) return nack(msg.ballot, record, electorateNack(known))
  return vote(s, v, key, msg)
}

export function onTakeoverMessage (s: Core, ts: Takeovers, v: VotingState, from: PeerId, target: PeerId, msg: PaxosMessage): void {
  const key = takeoverKey(target)
  noteBallot(v, key, msg)
  if (msg.kind === 'prepare' || msg.kind === 'accept') {
    const own = ts.get(target)
    if (own !== undefined) own.proposer = yieldTo(own.proposer, s.id, msg.ballot, proposerEnv(s))
    s.out.send(from, { type: 'paxos', key, msg: voteOn(s, v, target, msg) })
    return
  }
  const t = ts.get(target)
  if (t === undefined) return
  const d = driver(s, ts, v, t)
  run(d, reply(t.proposer, from, msg, d.env, d.policy), from)
}

export function takeoverTick (s: Core, ts: Takeovers, v: VotingState): void {
  for (const t of [...ts.values()]) {
    if (s.ring.isRemoved(t.target)) {
      // Decided, and the ring said so before the acceptors did (the heir may even have adopted the
      // space already): the value may still be this peer.
      ts.delete(t.target)
      s.out.completions.push({ kind: 'rmpeer', id: t.id, ok: true, takenOver: s.ring.heirOf(t.target) === s.id ? t.size : 0n })
    } else if (s.now >= t.deadline) {
      ts.delete(t.target)
      v.failures.set(takeoverKey(t.target), t.proposer.failures + (t.proposer.proposal === null ? 0 : 1))
      const n = Math.max(t.voters, t.proposer.electorate)
      s.out.fail(t.id, 'no-quorum', `no quorum to remove ${t.target}: at most ${t.proposer.bestPromises} of ${n} peers answered, ${quorumFor(s)(n)} needed`, true)
    } else {
      const d = driver(s, ts, v, t)
      run(d, tick(t.proposer, d.env, d.policy))
      if (ts.has(t.target) && due(t.proposer, s.now)) attempt(s, ts, v, t)
    }
  }
}

