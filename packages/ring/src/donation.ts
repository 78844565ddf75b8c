/**
 * Getting and giving space. A peer below its low-water mark, or with allocations waiting, asks a
 * reachable peer with at least half the most free space (by the ring's gossiped hints); a peer whose
 * share lies a GAP below others' asks one of those that would give it at least half what the largest
 * would (shares.ts: `pickDonor`, drawn at random, so askers that see one ring do not all ask one
 * donor): the next tick after a grant, else `rebalance` ticks after its last question. One question
 * per donor at a time, a deny or a timeout moves on to the next, and once all were tried it backs off. The donor sizes the gift by the two shares as its own ring tells them (or gives the one
 * address asked for), records it in its ring, and replies with that ring: the grant is persisted
 * before it is sent.
 */
import { addressAt } from './address.ts'
import { IntervalSet } from './intervals.ts'
import { usableRanges } from './owned.ts'
import type { Core } from './core.ts'
import { deltaOf, seedsFingerprint } from './ring-digest.ts'
import { absorbDelta, announce, digest, onDigest, reportFree, ringChanged, snapshot, wholeRing } from './ring-sync.ts'
import { type Donor, type Fair, balanceGift, donorsFor, fairOf, needGift, pickDonor, pickGift } from './shares.ts'
import type { Message, Offset, PeerId, Range, RingState } from './types.ts'

export interface Ask {
  readonly deadline: number
  readonly address: Offset | null
}

export interface DonationState {
  /** Ask for more space when fewer than this many addresses are free. */
  readonly lowWater: bigint
  /** One question per donor at a time. */
  readonly asks: Map<PeerId, Ask>
  /** Donors asked since the last backoff. */
  readonly tried: Set<PeerId>
  backoffUntil: number
  /** No question to even out shares before this tick. */
  rebalanceAt: number
  /** The donors to even out with (donorsFor), for one ring state: only a change of the ring changes them. */
  donors: { readonly of: RingState, readonly fair: Fair, readonly peers: ReadonlyArray<Donor<PeerId>> } | null
}

export const newDonationState = (lowWater: bigint): DonationState => ({ lowWater, asks: new Map(), tried: new Set(), backoffUntil: 0, rebalanceAt: 0, donors: null })

type Request = Extract<Message, { type: 'space-request' }>
type Grant = Extract<Message, { type: 'space-grant' }>
type Deny = Extract<Message, { type: 'space-deny' }>

export const DENY_ALLOCATED = 'address-allocated'

function ask (s: Core, d: DonationState, to: PeerId, address: Offset | null): void {
  d.asks.set(to, { deadline: s.now + s.t.ask, address })
  const msg: Request = address === null ? { type: 'space-request' } : { type: 'space-request', address }
  s.out.send(to, msg)
}

export function askForAddress (s: Core, d: DonationState, owner: PeerId, address: Offset): void {
  if (d.asks.has(owner) || !s.reachable.has(owner)) return
  ask(s, d, owner, address)
}

/**
 * Asks for space if this peer needs some and no general ask is out; `waitingForAny`: whether an
 * allocation of any address waits (a scan of the queue, so asked only when the space is full).
 */
export function maybeAskForSpace (s: Core, d: DonationState, waitingForAny: () => boolean): void {
  if (s.removedBy !== null || s.ring.isEmpty() || s.now < d.backoffUntil) return
  if ([...d.asks.values()].some(a => a.address === null)) return
  const free = s.space.freeCount()
  const urgent = free === 0n && waitingForAny()
  const joining = s.space.ownedCount() === 0n
  if (!urgent && !joining && free >= d.lowWater) { maybeEvenOut(s, d); return }
  // The donor tells a need from this peer's hint: make it current before asking.
  if (!joining) reportFree(s)
  // Without a pressing need, only ask a donor with plenty, so two low peers never trade space back and forth.
  const enough = urgent || joining ? 2n : 4n * d.lowWater + 2n
  const open: Array<Donor<PeerId>> = []
  for (const [peer, { free }] of s.ring.holdings(s.hints)) {
    if (peer !== s.id && s.reachable.has(peer) && !d.tried.has(peer) && !d.asks.has(peer) && free >= enough) open.push({ peer, gives: free })
  }
  const best = pickDonor(open, s.random)
  if (best !== null) { ask(s, d, best, null); return }
  if (d.tried.size > 0) {
    d.tried.clear()
    d.backoffUntil = s.now + s.t.backoff
  }
}

/** Asks a reachable peer with a large share (`pickDonor`) for space if the two shares are a GAP apart. */
function maybeEvenOut (s: Core, d: DonationState): void {
  if (s.now < d.rebalanceAt || s.faults.noRebalance === true) return
  // Looked at every half `rebalance` at most while nothing is to be done.
  d.rebalanceAt = s.now + Math.max(1, Math.floor(s.t.rebalance / 2))
  const ring = snapshot(s)
  if (d.donors?.of !== ring) {
    // Walking the ring costs O(peers): done once per ring state, not at every look.
    const fair = fairOf(s.universe.size, s.ring.knownPeers().length)
    const shares = new Map([...s.ring.holdings(s.hints)].map(([p, h]) => [p, h.size]))
    d.donors = { of: ring, fair, peers: donorsFor(fair, shares, s.id, shares.get(s.id) ?? 0n) }
  }
  const least = d.donors.fair.least
  const open = d.donors.peers.filter(({ peer: p }) => s.reachable.has(p) && !d.tried.has(p) && !d.asks.has(p) && (s.hints.get(p) ?? 0n) >= least)
  const best = pickDonor(open, s.random)
  if (best === null) {
    d.tried.clear()
    return
  }
  d.rebalanceAt = s.now + s.t.rebalance
  ask(s, d, best, null)
}

/**
 * What this peer gives `to` for a general ask: enough to even out the two shares, or, if `to` owns
 * nothing or runs low, a step of at most half this peer's free space; null when it has nothing to give.
 */
function giftFor (s: Core, d: DonationState, to: PeerId): Range | null {
  if (s.faults.noRebalance === true) return upperHalfOfLargest(s.space.freeRuns())
  const holdings = s.ring.holdings(s.hints)
  const f = fairOf(s.universe.size, s.ring.knownPeers().length)
  const mine = holdings.get(s.id)?.size ?? 0n
  const theirs = holdings.get(to)
  const asker = theirs?.size ?? 0n
  let most = balanceGift(f, mine, asker)
  if (most === 0n && (asker === 0n || (theirs?.free ?? 0n) < d.lowWater)) {
    const half = s.space.freeCount() / 2n
    const step = needGift(f, mine, asker)
    most = step < half ? step : half
  }
  const tokens = [...s.ring.entries().map(e => e.token), s.universe.size]
  return pickGift(s.space.freeRuns(), most, s.ring.rangesOf(to), tokens)
}

function upperHalfOfLargest (runs: readonly Range[]): Range | null {
  const run = runs.reduce<Range | null>((a, r) => a === null || r.end - r.start > a.end - a.start ? r : a, null)
  if (run === null || runs.reduce((n, r) => n + r.end - r.start, 0n) < 2n) return null
  const len = run.end - run.start
  return len === 1n ? run : { start: run.end - len / 2n, end: run.end }
}

export function expireAsks (s: Core, d: DonationState): void {
  for (const [to, a] of d.asks) {
    if (a.deadline > s.now) continue
    d.asks.delete(to)
    if (a.address === null) d.tried.add(to)
  }
}

/**
 * As donor. A request from a removed peer gets our ring (so it learns it was removed) and nothing
 * else. A grant carries what the gift changed in our ring; a deny, our digest (the asker may be behind).
 */
export function onSpaceRequest (s: Core, d: DonationState, from: PeerId, msg: Request): void {
  if (s.ring.isRemoved(from)) { s.out.send(from, wholeRing(s)); return }
  if (s.removedBy !== null) return
  const deny = (reason: string): void => s.out.send(from, { type: 'space-deny', digest: digest(s), reason })
  if (s.ring.isEmpty()) { deny('no ring yet'); return }
  let range: Range | null
  if (msg.address !== undefined) {
    const a = msg.address
    if (s.space.isAllocated(a)) { deny(DENY_ALLOCATED); return }
    range = s.space.owns(a) ? { start: a, end: a + 1n } : null
    if (range === null) { deny(`${addressAt(s.universe, a)} is not this peer's to give`); return }
  } else {
    range = giftFor(s, d, from)
    if (range === null) { deny('no free space to spare'); return }
  }
  const before = snapshot(s)
  s.ring.give(range, s.id, from)
  ringChanged(s)
  if (s.faults.donorKeeps === true) s.space.setOwned([...s.space.owned(), range])
  s.out.events.push({ kind: 'space-given', to: from, range })
  const after = snapshot(s)
  s.out.send(from, { type: 'space-grant', delta: { seeds: seedsFingerprint(after.seeds), part: deltaOf(before, after, s.universe.size) }, range })
}

export function onSpaceGrant (s: Core, d: DonationState, from: PeerId, msg: Grant): void {
  d.asks.delete(from)
  // A grant moved the shares towards even: the next question may follow at once (one is out at a time).
  d.rebalanceAt = Math.min(d.rebalanceAt, s.now + 1)
  if (!absorbDelta(s, from, msg.delta)) return
  // The donor may have crashed before its broadcast went out: then only this peer knows. The
  // donor's delta is on its way otherwise, so the round may wait for the ring to rest.
  announce(s, true)
  const mine = IntervalSet.of(usableRanges(s.ring, s.id))
  if (mine.countIn(msg.range) > 0n) s.out.events.push({ kind: 'space-received', from, range: msg.range })
}

/** Returns the address its owner says is allocated, for which waiting allocations must fail; else null. */
export function onSpaceDeny (s: Core, d: DonationState, from: PeerId, msg: Deny): Offset | null {
  const a = d.asks.get(from)
  // A general ask moves on to the next donor at once; an ask for one address waits out its
  // deadline before asking the same owner again, so a deny cannot start a request storm.
  if (a !== undefined && a.address === null) {
    d.asks.delete(from)
    d.tried.add(from)
  }
  onDigest(s, from, msg.digest, false)
  return a === undefined || a.address === null || msg.reason !== DENY_ALLOCATED ? null : a.address
}
