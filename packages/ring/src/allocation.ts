/**
 * Allocate, claim and release, keyed by an opaque attachment key. Requests that cannot be served yet
 * (no ring, no free space, a requested address owned by another peer) wait in order and are retried
 * after every change, until their deadline; then they fail retryable with the reason in Weave's words.
 */
import { addressAt, isReserved } from './address.ts'
import { askForAddress } from './donation.ts'
import { needRing } from './init.ts'
import { type PeerState, coreError, deleteAllocation, fail, putAllocation } from './state.ts'
import { statusOf } from './status.ts'
import type { CoreError, Offset, PeerId, RequestId } from './types.ts'

export function allocate (s: PeerState, id: RequestId, key: string, address: Offset | null): void {
  if (s.removedBy !== null) { failRemoved(s, id); return }
  if (address !== null && (address < 0n || address >= s.universe.size)) {
    fail(s, id, 'address-unavailable', `offset ${address} lies outside ${s.universe.cidr}`, false)
    return
  }
  if (address !== null && isReserved(s.universe, address)) {
    fail(s, id, 'address-unavailable', `${addressAt(s.universe, address)} is the network or broadcast address of ${s.universe.cidr}`, false)
    return
  }
  s.pending.push({ id, key, address, deadline: s.now + s.t.request })
  if (s.ring.isEmpty()) needRing(s)
  serve(s)
}

export function release (s: PeerState, id: RequestId, key: string): void {
  if (s.removedBy !== null) { failRemoved(s, id); return }
  const offset = s.allocations.get(key)
  if (offset === undefined) { s.out.completions.push({ id, ok: true }); return }
  s.space.release(offset)
  deleteAllocation(s, key)
  s.out.completions.push({ id, ok: true, offset })
}

export function failRemoved (s: PeerState, id: RequestId): void {
  fail(s, id, 'removed', `this peer was removed from the ring (heir: ${s.removedBy ?? 'unknown'}); delete its data and restart`, false)
}

type Outcome = 'done' | 'wait'

/** Serves waiting requests in arrival order; each either completes now or keeps waiting. */
export function serve (s: PeerState): void {
  if (s.pending.length === 0) return
  const waiting = s.pending.splice(0).filter(p => tryServe(s, p.id, p.key, p.address) === 'wait')
  s.pending.push(...waiting)
}

function tryServe (s: PeerState, id: RequestId, key: string, address: Offset | null): Outcome {
  const u = s.universe
  const held = s.allocations.get(key)
  if (held !== undefined) {
    if (address !== null && address !== held) {
      fail(s, id, 'address-unavailable', `${key} already holds ${addressAt(u, held)}, not ${addressAt(u, address)}`, false)
    } else s.out.completions.push({ id, ok: true, offset: held })
    return 'done'
  }
  if (s.ring.isEmpty()) return 'wait'
  if (address === null) {
    const o = s.space.allocate()
    if (o === null) return 'wait'
    putAllocation(s, key, o)
    s.out.completions.push({ id, ok: true, offset: o })
    return 'done'
  }
  const r = s.space.claim(address)
  if (r === 'ok') {
    putAllocation(s, key, address)
    s.out.completions.push({ id, ok: true, offset: address })
    return 'done'
  }
  if (r !== 'not-owned') {
    fail(s, id, 'address-unavailable', `${addressAt(u, address)} is already allocated`, false)
    return 'done'
  }
  const owner = s.ring.ownerAt(address)
  // Owned but not usable yet: inherited from a removal that not every member has acknowledged.
  if (owner !== null && owner !== s.id) askForAddress(s, owner, address)
  return 'wait'
}

/** Fails waiting requests whose time is up, and primes likewise. */
export function expire (s: PeerState): void {
  const late = s.pending.filter(p => p.deadline <= s.now)
  if (late.length > 0) {
    s.pending.splice(0, s.pending.length, ...s.pending.filter(p => p.deadline > s.now))
    for (const p of late) failLate(s, p.id, p.address)
  }
  const latePrimes = s.primes.filter(p => p.deadline <= s.now)
  if (latePrimes.length > 0) {
    s.primes.splice(0, s.primes.length, ...s.primes.filter(p => p.deadline > s.now))
    for (const p of latePrimes) fail(s, p.id, 'not-ready', statusOf(s).text, true)
  }
}

function failLate (s: PeerState, id: RequestId, address: Offset | null): void {
  const e = lateError(s, address)
  fail(s, id, e.code, e.message, e.retryable)
}

/** Why a request for `address` (or for any address) is still waiting: what it fails with when its time is up. */
export function lateError (s: PeerState, address: Offset | null): CoreError {
  if (address !== null && !s.ring.isEmpty()) {
    const owner = s.ring.ownerAt(address)
    const where = owner === s.id ? 'inherited from a removed peer; waiting for every peer to acknowledge the removal' : `owned by peer ${owner ?? '?'}, which did not hand it over`
    return coreError('not-ready', `${addressAt(s.universe, address)} is ${where}`, true)
  }
  if (!s.ring.isEmpty() && nobodyHasSpace(s)) return coreError('exhausted', `no free addresses left in ${s.universe.cidr} on any peer`, true)
  return coreError('not-ready', statusOf(s).text, true)
}

function nobodyHasSpace (s: PeerState): boolean {
  if (s.space.freeCount() > 0n) return false
  return [...s.ring.holdings()].every(([p, h]) => p === s.id || h.free === 0n)
}

export function prime (s: PeerState, id: RequestId): void {
  if (s.removedBy !== null) { failRemoved(s, id); return }
  if (!s.ring.isEmpty()) { s.out.completions.push({ id, ok: true }); return }
  s.primes.push({ id, deadline: s.now + s.t.request })
  needRing(s)
}

/** Completes primes once the ring exists. */
export function servePrimes (s: PeerState): void {
  if (s.ring.isEmpty() || s.primes.length === 0) return
  for (const p of s.primes.splice(0)) s.out.completions.push({ id: p.id, ok: true })
}
