/**
 * Allocate, claim and release, keyed by an opaque attachment key; each allocation keeps the opaque
 * payload of the request that made it. Requests that cannot be served yet
 * (no ring, no free space, a requested address owned by another peer) wait in order and are retried
 * after every change, until their deadline; then they fail retryable with the reason in Weave's words.
 */
import { addressAt, isReserved } from './address.ts'
import type { Core } from './core.ts'
import { coreError } from './outbox.ts'
import type { Allocation, CoreError, Offset, PeerId, RequestId } from './types.ts'

export interface PendingAllocate<P> {
  readonly id: RequestId
  readonly key: string
  readonly address: Offset | null
  readonly deadline: number
  /** Goes with the allocation if this request makes it; dropped if the key is held already. */
  readonly payload: P
}

export interface AllocationState<P> {
  /** key -> allocation: every allocation this peer holds, with its payload. */
  readonly allocations: Map<string, Allocation<P>>
  readonly pending: Array<PendingAllocate<P>>
  readonly primes: Array<{ readonly id: RequestId, readonly deadline: number }>
}

export const newAllocationState = <P>(): AllocationState<P> => ({ allocations: new Map(), pending: [], primes: [] })

/** Why nothing can be served yet, in the peer's status words (status.ts sees the whole peer). */
export type NotReady = () => string

/** Asks `owner` for `address`, which the ring gives it but this peer was asked for. */
export type AskFor = (owner: PeerId, address: Offset) => void

function putAllocation<P> (s: Core, a: AllocationState<P>, p: PendingAllocate<P>, offset: Offset): void {
  a.allocations.set(p.key, { key: p.key, offset, payload: p.payload })
  s.out.allocations.set(p.key, offset)
  s.mutations++
}

function deleteAllocation<P> (s: Core, a: AllocationState<P>, key: string): void {
  a.allocations.delete(key)
  s.out.allocations.set(key, null)
  s.mutations++
}

/** Whether an allocation of any address (not a given one) is waiting. */
export const waitingForAny = <P>(a: AllocationState<P>): boolean => a.pending.some(p => p.address === null)

/** Queues an allocation; returns whether it waits for a ring that does not exist yet. */
export function allocate<P> (s: Core, a: AllocationState<P>, id: RequestId, key: string, payload: P, address: Offset | null): boolean {
  if (s.removedBy !== null) { failRemoved(s, id); return false }
  if (address !== null && (address < 0n || address >= s.universe.size)) {
    s.out.fail(id, 'address-unavailable', `offset ${address} lies outside ${s.universe.cidr}`, false)
    return false
  }
  if (address !== null && isReserved(s.universe, address)) {
    s.out.fail(id, 'address-unavailable', `${addressAt(s.universe, address)} is the network or broadcast address of ${s.universe.cidr}`, false)
    return false
  }
  a.pending.push({ id, key, address, deadline: s.now + s.t.request, payload })
  return s.ring.isEmpty()
}

export function release<P> (s: Core, a: AllocationState<P>, id: RequestId, key: string): void {
  if (s.removedBy !== null) { failRemoved(s, id); return }
  const offset = a.allocations.get(key)?.offset
  if (offset === undefined) { s.out.completions.push({ kind: 'release', id, ok: true, offset: null }); return }
  s.space.release(offset)
  deleteAllocation(s, a, key)
  s.out.completions.push({ kind: 'release', id, ok: true, offset })
}

export function failRemoved (s: Core, id: RequestId): void {
  const heir = s.removedBy === null || s.removedBy === s.id ? 'no longer named' : s.removedBy
  s.out.fail(id, 'removed', `this peer was removed from the ring (heir: ${heir}); delete its data and restart`, false)
}

type Outcome = 'done' | 'wait'

/** Serves waiting requests in arrival order; each either completes now or keeps waiting. */
export function serve<P> (s: Core, a: AllocationState<P>, askFor: AskFor): void {
  const q = a.pending
  const n = q.length
  if (n === 0) return
  // In place, no copies: those still waiting move to the front, in order, ahead of any request
  // queued meanwhile (after n).
  let w = 0
  for (let i = 0; i < n; i++) {
    const p = q[i]!
    if (tryServe(s, a, askFor, p) === 'wait') q[w++] = p
  }
  if (w < n) {
    q.copyWithin(w, n)
    q.length -= n - w
  }
}

function tryServe<P> (s: Core, a: AllocationState<P>, askFor: AskFor, p: PendingAllocate<P>): Outcome {
  const u = s.universe
  const { id, key, address } = p
  const held = a.allocations.get(key)?.offset
  if (held !== undefined) {
    if (address !== null && address !== held) {
      s.out.fail(id, 'address-unavailable', `${key} already holds ${addressAt(u, held)}, not ${addressAt(u, address)}`, false)
    } else s.out.completions.push({ kind: 'allocate', id, ok: true, offset: held })
    return 'done'
  }
  if (s.ring.isEmpty()) return 'wait'
  if (address === null) {
    const o = s.space.allocate()
    if (o === null) return 'wait'
    putAllocation(s, a, p, o)
    s.out.completions.push({ kind: 'allocate', id, ok: true, offset: o })
    return 'done'
  }
  const r = s.space.claim(address)
  if (r === 'ok') {
    putAllocation(s, a, p, address)
    s.out.completions.push({ kind: 'allocate', id, ok: true, offset: address })
    return 'done'
  }
  if (r !== 'not-owned') {
    s.out.fail(id, 'address-unavailable', `${addressAt(u, address)} is already allocated`, false)
    return 'done'
  }
  const owner = s.ring.ownerAt(address)
  // Owned but not usable yet: inherited from a removal that not every member has acknowledged.
  if (owner !== null && owner !== s.id) askFor(owner, address)
  return 'wait'
}

/** Fails waiting requests whose time is up, and primes likewise. */
export function expire<P> (s: Core, a: AllocationState<P>, notReady: NotReady): void {
  const late = a.pending.filter(p => p.deadline <= s.now)
  if (late.length > 0) {
    a.pending.splice(0, a.pending.length, ...a.pending.filter(p => p.deadline > s.now))
    for (const p of late) failLate(s, p.id, p.address, notReady)
  }
  const latePrimes = a.primes.filter(p => p.deadline <= s.now)
  if (latePrimes.length > 0) {
    a.primes.splice(0, a.primes.length, ...a.primes.filter(p => p.deadline > s.now))
    for (const p of latePrimes) s.out.fail(p.id, 'not-ready', notReady(), true)
  }
}

function failLate (s: Core, id: RequestId, address: Offset | null, notReady: NotReady): void {
  const e = lateError(s, address, notReady)
  s.out.fail(id, e.code, e.message, e.retryable)
}

/** Why a request for `address` (or for any address) is still waiting: what it fails with when its time is up. */
export function lateError (s: Core, address: Offset | null, notReady: NotReady): CoreError {
  if (address !== null && !s.ring.isEmpty()) {
    const owner = s.ring.ownerAt(address)
    const where = owner === s.id ? 'inherited from a removed peer; waiting for every peer to acknowledge the removal' : `owned by peer ${owner ?? '?'}, which did not hand it over`
    return coreError('not-ready', `${addressAt(s.universe, address)} is ${where}`, true)
  }
  if (!s.ring.isEmpty() && nobodyHasSpace(s)) return coreError('exhausted', `no free addresses left in ${s.universe.cidr} on any peer`, true)
  return coreError('not-ready', notReady(), true)
}

function nobodyHasSpace (s: Core): boolean {
  if (s.space.freeCount() > 0n) return false
  return [...s.ring.holdings(s.hints)].every(([p, h]) => p === s.id || h.free === 0n)
}

/** Returns whether the prime waits for a ring that does not exist yet. */
export function prime<P> (s: Core, a: AllocationState<P>, id: RequestId): boolean {
  if (s.removedBy !== null) { failRemoved(s, id); return false }
  if (!s.ring.isEmpty()) { s.out.completions.push({ kind: 'prime', id, ok: true }); return false }
  a.primes.push({ id, deadline: s.now + s.t.request })
  return true
}

/** Fails the allocations waiting for `address`, which `from`, its owner, says is in use. */
export function refuseWaiting<P> (s: Core, a: AllocationState<P>, address: Offset, from: PeerId): void {
  const denied = a.pending.filter(p => p.address === address)
  a.pending.splice(0, a.pending.length, ...a.pending.filter(p => p.address !== address))
  for (const p of denied) s.out.fail(p.id, 'address-unavailable', `${addressAt(s.universe, address)} is in use on peer ${from}`, false)
}

/** Completes primes once the ring exists. */
export function servePrimes<P> (s: Core, a: AllocationState<P>): void {
  if (s.ring.isEmpty() || a.primes.length === 0) return
  for (const p of a.primes.splice(0)) s.out.completions.push({ kind: 'prime', id: p.id, ok: true })
}
