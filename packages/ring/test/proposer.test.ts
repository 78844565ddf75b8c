import { describe, expect, it } from 'vitest'
import { type Value, electorateNack, emptyRecord, onAccept, onPrepare } from '../src/paxos.ts'
import { type Env, MAX_DOUBLINGS, type Policy, type ProposerState, type Step, backoff, ballotTimeout, due, newProposer, reply, start, tick, yieldTo } from '../src/proposer.ts'
import { type AcceptorRecord, type PaxosMessage, type PeerId, asPeerId } from '../src/types.ts'
import { prng } from '../sim/prng.ts'

const retry = { base: 4, cap: 16 }
const env = (now: number, random: () => number = () => 0.5): Env => ({ now, random, ballot: 10, doublings: MAX_DOUBLINGS, retry })
const policyFor = (self: PeerId): Policy => ({ candidate: () => [self], acceptNow: () => true })

interface InFlight { from: PeerId, to: PeerId, msg: PaxosMessage }

/**
 * Three acceptors that are also proposers, each proposing itself, over a network that drops,
 * duplicates and reorders; time advances one tick per step. Returns the values decided, one entry
 * per proposer that saw its ballot decided (a proposer stops once it saw one; the others go on).
 */
function duel (seed: number): Value[] {
  const rnd = prng(seed)
  const ids = ['a', 'b', 'c'].map(asPeerId)
  const records = new Map<PeerId, AcceptorRecord>(ids.map(id => [id, emptyRecord('k')]))
  const seen = new Map<PeerId, number>(ids.map(id => [id, 0]))
  const proposers = new Map<PeerId, ProposerState>(ids.map(id => [id, newProposer('k', rnd.int(5))]))
  const net: InFlight[] = []
  const decided: Value[] = []
  const done = new Set<PeerId>()
  const apply = (self: PeerId, s: Step): void => {
    proposers.set(self, s.state)
    if (s.decided !== null) { decided.push(s.decided); done.add(self) }
    if (s.send !== null) for (const to of ids) net.push({ from: self, to, msg: s.send })
  }
  for (let now = 0; now < 300; now++) {
    const e = env(now, () => rnd.next())
    for (const id of ids.filter(id => !done.has(id))) {
      apply(id, tick(proposers.get(id)!, e, policyFor(id)))
      if (due(proposers.get(id)!, now)) apply(id, start(proposers.get(id)!, id, seen.get(id)!, ids.length, now))
    }
    for (let k = 0; k < 3 && net.length > 0; k++) {
      const i = rnd.int(net.length)
      const { from, to, msg } = net[i]!
      if (!rnd.chance(0.2)) net.splice(i, 1)
      if (rnd.chance(0.15)) continue
      seen.set(to, Math.max(seen.get(to)!, msg.ballot.n))
      if (msg.kind === 'prepare' || msg.kind === 'accept') {
        const rec = records.get(to)!
        const out = msg.kind === 'prepare' ? onPrepare(rec, msg.ballot) : onAccept(rec, msg.ballot, msg.value)
        records.set(to, out.record)
        if (out.reply.kind === 'nack' && out.reply.promised !== null) seen.set(to, Math.max(seen.get(to)!, out.reply.promised.n))
        net.push({ from: to, to: from, msg: out.reply })
      } else {
        if (msg.kind === 'nack' && msg.promised !== null) seen.set(to, Math.max(seen.get(to)!, msg.promised.n))
        apply(to, reply(proposers.get(to)!, from, msg, e, policyFor(to)))
      }
    }
  }
  return decided
}

describe('proposer', () => {
  it('backs off by a random delay that grows with each failure up to a cap', () => {
    const top = (): number => 0.999
    expect([1, 2, 3, 4, 5].map(n => backoff(n, retry, top))).toEqual([4, 8, 16, 16, 16])
    expect(backoff(3, retry, () => 0)).toBe(1)
  })

  it('duelling proposers decide one value, and do decide', () => {
    let decidedRuns = 0
    for (let seed = 1; seed <= 200; seed++) {
      const decided = duel(seed)
      expect(new Set(decided.map(v => JSON.stringify(v))).size, `seed ${seed}`).toBeLessThanOrEqual(1)
      if (decided.length > 0) decidedRuns++
    }
    expect(decidedRuns).toBeGreaterThan(150)
  })

  it('after a ballot times out, waits before the next instead of retrying at once', () => {
    const a = asPeerId('a')
    const started = start(newProposer('k', 0), a, 0, 3, 0).state
    const late = tick(started, env(10), policyFor(a)).state
    expect(late.proposal).toBeNull()
    expect(late.failures).toBe(1)
    expect(late.nextAttempt).toBeGreaterThan(10)
    expect(due(late, 10)).toBe(false)
  })

  it('lets each failed ballot in a row wait twice as long for its replies, up to a cap', () => {
    const a = asPeerId('a')
    let st = newProposer('k', 0)
    const timeouts: number[] = []
    for (let i = 0; i < 8; i++) {
      st = start(st, a, i, 3, st.nextAttempt).state
      timeouts.push(ballotTimeout(st, env(st.proposedAt)))
      // Just before the timeout the ballot still stands; at it, it failed.
      expect(tick(st, env(st.proposedAt + timeouts[i]! - 1), policyFor(a)).state.proposal).not.toBeNull()
      st = tick(st, env(st.proposedAt + timeouts[i]!), policyFor(a)).state
      expect(st.proposal).toBeNull()
    }
    expect(timeouts).toEqual([10, 20, 40, 80, 160, 320, 320, 320])
  })

  it('yields to a higher ballot of another proposer: drops its own and holds the next back a ballot timeout', () => {
    const [a, b] = [asPeerId('a'), asPeerId('b')]
    const own = start(newProposer('k', 0), a, 0, 3, 0).state
    const higher = { n: own.proposal!.ballot.n + 1, proposer: b }
    const yielded = yieldTo(own, a, higher, env(3, () => 0))
    expect(yielded.proposal).toBeNull()
    expect(due(yielded, 3 + 10 - 1)).toBe(false)
    expect(due(yielded, 3 + 10)).toBe(true)
    // A lower ballot, or its own, changes nothing.
    expect(yieldTo(own, a, { n: 0, proposer: b }, env(3))).toBe(own)
    expect(yieldTo(own, a, own.proposal!.ballot, env(3))).toBe(own)
  })

  it('retries at once against a larger electorate an acceptor told of', () => {
    const a = asPeerId('a')
    const s = start(newProposer('k', 0), a, 0, 3, 0)
    const msg: PaxosMessage = { kind: 'nack', ballot: s.state.proposal!.ballot, promised: null, reason: electorateNack(5) }
    const after = reply(s.state, asPeerId('b'), msg, env(2), policyFor(a))
    expect(after.nack).toBe(electorateNack(5))
    expect(due(after.state, 2)).toBe(true)
    expect(after.state.failures).toBe(0)
    expect(start(after.state, a, 1, 3, 2).send).toMatchObject({ kind: 'prepare', electorate: 5 })
  })

  it('waits for more promises while its policy says so, then sends the accept on a tick', () => {
    const a = asPeerId('a')
    const patient: Policy = { candidate: () => [a], acceptNow: (p, waited) => p.promisedBy.length >= p.electorate || waited >= 5 }
    const s = start(newProposer('k', 0), a, 0, 3, 0)
    const ballot = s.state.proposal!.ballot
    const promise: PaxosMessage = { kind: 'promise', ballot, accepted: null }
    const two = reply(reply(s.state, a, promise, env(1), patient).state, asPeerId('b'), promise, env(1), patient)
    expect(two.send).toBeNull()
    expect(tick(two.state, env(4), patient).send).toBeNull()
    expect(tick(two.state, env(5), patient).send).toMatchObject({ kind: 'accept', value: [a] })
  })
})
