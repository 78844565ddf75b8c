/**
 * Getting and giving space. A peer below its low-water mark, or with allocations waiting, asks the
 * reachable peer with the most free space (by the ring's gossiped hints); one question per donor at a
 * time, a deny or a timeout moves on to the next, and once all were tried it backs off. The donor
 * gives the upper half of its largest free run (or the one address asked for), records it in its
 * ring, and replies with that ring: the grant is persisted before it is sent.
 */
import { addressAt } from './address.ts'
import { IntervalSet } from './intervals.ts'
import { usableRanges } from './owned.ts'
import { type PeerState, absorbRing, fail, ringChanged, send, snapshot } from './state.ts'
import type { Message, Offset, PeerId, Range } from './types.ts'

type Request = Extract<Message, { type: 'space-request' }>
type Grant = Extract<Message, { type: 'space-grant' }>
type Deny = Extract<Message, { type: 'space-deny' }>

export const DENY_ALLOCATED = 'address-allocated'

function ask (s: PeerState, to: PeerId, address: Offset | null): void {
  s.asks.set(to, { deadline: s.now + s.t.ask, address })
  const msg: Request = address === null ? { type: 'space-request', ring: snapshot(s) } : { type: 'space-request', ring: snapshot(s), address }
  send(s, to, msg)
}

export function askForAddress (s: PeerState, owner: PeerId, address: Offset): void {
  if (s.asks.has(owner) || !s.reachable.has(owner)) return
  ask(s, owner, address)
}

/** Asks for space if this peer needs some and no general ask is out. */
export function maybeAskForSpace (s: PeerState): void {
  if (s.removedBy !== null || s.ring.isEmpty() || s.now < s.backoffUntil) return
  if ([...s.asks.values()].some(a => a.address === null)) return
  const free = s.space.freeCount()
  const urgent = free === 0n && s.pending.some(p => p.address === null)
  const joining = s.space.ownedCount() === 0n
  if (!urgent && !joining && free >= s.lowWater) return
  // Without a pressing need, only ask a donor with plenty, so two low peers never trade space back and forth.
  const enough = urgent || joining ? 2n : 4n * s.lowWater + 2n
  let best: PeerId | null = null
  let bestFree = 0n
  for (const [p, { free: hint }] of s.ring.holdings()) {
    if (p === s.id || !s.reachable.has(p) || s.tried.has(p) || s.asks.has(p)) continue
    if (hint >= enough && (hint > bestFree || (hint === bestFree && s.random() < 0.5))) { best = p; bestFree = hint }
  }
  if (best !== null) { ask(s, best, null); return }
  if (s.tried.size > 0) {
    s.tried.clear()
    s.backoffUntil = s.now + s.t.backoff
  }
}

export function expireAsks (s: PeerState): void {
  for (const [to, a] of s.asks) {
    if (a.deadline > s.now) continue
    s.asks.delete(to)
    if (a.address === null) s.tried.add(to)
  }
}

/** As donor. A request from a removed peer gets our ring (so it learns it was removed) and nothing else. */
export function onSpaceRequest (s: PeerState, from: PeerId, msg: Request): void {
  if (!absorbRing(s, from, msg.ring)) return
  if (s.ring.isRemoved(from)) { send(s, from, { type: 'ring', ring: snapshot(s) }); return }
  if (s.removedBy !== null) return
  const deny = (reason: string): void => send(s, from, { type: 'space-deny', ring: snapshot(s), reason })
  if (s.ring.isEmpty()) { deny('no ring yet'); return }
  let range: Range | null
  if (msg.address !== undefined) {
    const a = msg.address
    if (s.space.isAllocated(a)) { deny(DENY_ALLOCATED); return }
    range = s.space.owns(a) ? { start: a, end: a + 1n } : null
    if (range === null) { deny(`${addressAt(s.universe, a)} is not this peer's to give`); return }
  } else {
    range = s.space.donation()
    if (range === null) { deny('no free space'); return }
  }
  s.ring.give(range, s.id, from)
  ringChanged(s)
  if (s.faults.donorKeeps === true) s.space.setOwned([...s.space.owned(), range])
  s.out.events.push({ kind: 'space-given', to: from, range })
  send(s, from, { type: 'space-grant', ring: snapshot(s), range })
}

export function onSpaceGrant (s: PeerState, from: PeerId, msg: Grant): void {
  s.asks.delete(from)
  if (!absorbRing(s, from, msg.ring)) return
  const mine = IntervalSet.of(usableRanges(s.ring, s.id))
  if (mine.countIn(msg.range) > 0n) s.out.events.push({ kind: 'space-received', from, range: msg.range })
}

export function onSpaceDeny (s: PeerState, from: PeerId, msg: Deny): void {
  const a = s.asks.get(from)
  // A general ask moves on to the next donor at once; an ask for one address waits out its
  // deadline before asking the same owner again, so a deny cannot start a request storm.
  if (a !== undefined && a.address === null) {
    s.asks.delete(from)
    s.tried.add(from)
  }
  if (!absorbRing(s, from, msg.ring)) return
  if (a === undefined || a.address === null || msg.reason !== DENY_ALLOCATED) return
  const address = a.address
  const denied = s.pending.filter(p => p.address === address)
  s.pending.splice(0, s.pending.length, ...s.pending.filter(p => p.address !== address))
  for (const p of denied) fail(s, p.id, 'address-unavailable', `${addressAt(s.universe, address)} is in use on peer ${from}`, false)
}
