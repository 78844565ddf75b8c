import { describe, expect, it } from 'vitest'
import {
  type AcceptorStep, type Proposal, beginAccept, compareBallots, emptyRecord, hasPromiseQuorum, highestN, onAccept,
  onAccepted, onPrepare, onPromise, propose, quorumOf, validatePaxos
} from '../src/paxos.ts'
import { type AcceptorRecord, type Ballot, type PaxosMessage, type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'

interface InFlight { from: PeerId, to: PeerId, msg: PaxosMessage }
type PrepareFn = (r: AcceptorRecord, b: Ballot) => AcceptorStep

/**
 * Five acceptors, three of them also proposers with different candidates, over a network that drops,
 * duplicates and reorders. Returns every value any proposer saw decided.
 */
function runSchedule (seed: number, prepare: PrepareFn): Set<string> {
  const rnd = prng(seed)
  const ids = ['a', 'b', 'c', 'd', 'e'].map(asPeerId)
  const records = new Map(ids.map(id => [id, emptyRecord('init')]))
  const proposers = ids.slice(0, 3)
  const proposals = new Map<PeerId, Proposal>()
  const seen = new Map<PeerId, number>(ids.map(id => [id, 0]))
  const net: InFlight[] = []
  const decided = new Set<string>()
  const broadcast = (from: PeerId, msg: PaxosMessage): void => { for (const to of ids) net.push({ from, to, msg }) }

  for (let step = 0; step < 400; step++) {
    if (rnd.chance(0.08) || net.length === 0) {
      const p = rnd.pick(proposers)
      const { proposal, prepare: m } = propose('init', p, seen.get(p)!, ids.length)
      proposals.set(p, proposal)
      broadcast(p, m)
      continue
    }
    const i = rnd.int(net.length)
    const { from, to, msg } = net[i]!
    if (!rnd.chance(0.2)) net.splice(i, 1) // else: delivered and kept, i.e. duplicated
    if (rnd.chance(0.1)) continue // dropped
    seen.set(to, Math.max(seen.get(to)!, highestN(msg)))
    const rec = records.get(to)!
    if (msg.kind === 'prepare' || msg.kind === 'accept') {
      const out = msg.kind === 'prepare' ? prepare(rec, msg.ballot) : onAccept(rec, msg.ballot, msg.value)
      records.set(to, out.record)
      net.push({ from: to, to: from, msg: out.reply })
      continue
    }
    const p = proposals.get(to)
    if (p === undefined) continue
    if (msg.kind === 'promise') {
      const q = onPromise(p, from, msg)
      if (!hasPromiseQuorum(q)) { proposals.set(to, q); continue }
      const r = beginAccept(q, [to])
      proposals.set(to, r.proposal)
      broadcast(to, r.accept)
    } else if (msg.kind === 'accepted') {
      const q = onAccepted(p, from, msg)
      proposals.set(to, q)
      if (q.phase === 'decided') decided.add(JSON.stringify(q.value))
    }
  }
  return decided
}

describe('paxos', () => {
  it('never decides two different values over random message orders', () => {
    let decidedSomewhere = 0
    for (let seed = 1; seed <= 400; seed++) {
      const decided = runSchedule(seed, onPrepare)
      expect(decided.size, `seed ${seed}`).toBeLessThanOrEqual(1)
      if (decided.size === 1) decidedSomewhere++
    }
    // The schedules must actually reach decisions, or the check above proves nothing.
    expect(decidedSomewhere).toBeGreaterThan(100)
  })

  it('the same harness catches an acceptor that forgets what it accepted', () => {
    const forgetful: PrepareFn = (r, b) => ({ record: { ...r, promised: b }, reply: { kind: 'promise', ballot: b, accepted: null } })
    let violations = 0
    for (let seed = 1; seed <= 400; seed++) if (runSchedule(seed, forgetful).size > 1) violations++
    expect(violations).toBeGreaterThan(0)
  })

  it('an acceptor refuses a lower ballot and keeps its accepted value', () => {
    const hi: Ballot = { n: 5, proposer: asPeerId('b') }
    const lo: Ballot = { n: 4, proposer: asPeerId('z') }
    let r = onPrepare(emptyRecord('k'), hi).record
    r = onAccept(r, hi, [asPeerId('b')]).record
    const refused = onAccept(r, lo, [asPeerId('z')])
    expect(refused.reply.kind).toBe('nack')
    expect(refused.record).toBe(r)
    const again = onPrepare(r, { n: 6, proposer: asPeerId('a') })
    expect(again.reply).toEqual({ kind: 'promise', ballot: { n: 6, proposer: 'a' }, accepted: { ballot: hi, value: ['b'] } })
  })

  it('counts a duplicated promise once', () => {
    const { proposal } = propose('k', asPeerId('a'), 0, 3)
    const promise: PaxosMessage = { kind: 'promise', ballot: proposal.ballot, accepted: null }
    const twice = onPromise(onPromise(proposal, asPeerId('b'), promise), asPeerId('b'), promise)
    expect(quorumOf(3)).toBe(2)
    expect(hasPromiseQuorum(twice)).toBe(false)
    expect(hasPromiseQuorum(onPromise(twice, asPeerId('c'), promise))).toBe(true)
  })

  it('orders ballots by n, then proposer', () => {
    expect(compareBallots({ n: 1, proposer: asPeerId('b') }, { n: 2, proposer: asPeerId('a') })).toBe(-1)
    expect(compareBallots({ n: 2, proposer: asPeerId('b') }, { n: 2, proposer: asPeerId('a') })).toBe(1)
    expect(compareBallots(null, { n: 0, proposer: asPeerId('a') })).toBe(-1)
  })

  it('validates messages from the network', () => {
    const b: Ballot = { n: 1, proposer: asPeerId('a') }
    expect(validatePaxos({ kind: 'prepare', ballot: b, electorate: 3 })).toBeNull()
    expect(validatePaxos({ kind: 'prepare', ballot: b, electorate: 0 })).toBe('bad electorate')
    expect(validatePaxos({ kind: 'accept', ballot: b, value: [] })).toBe('bad value')
    expect(validatePaxos({ kind: 'accept', ballot: b, value: [asPeerId('b'), asPeerId('a')] })).toBe('bad value')
    expect(validatePaxos({ kind: 'accepted', ballot: { n: -1, proposer: asPeerId('a') } })).toBe('bad ballot')
  })
})
