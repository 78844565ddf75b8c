/**
 * The composed state machine the agent wraps: one peer's ring, space, allocations, init, donation
 * and takeover. Inputs are ticks, messages and local requests; the one output is a Ready batch,
 * acted on in order (persist, send, complete) before advance(). Everything a message or completion
 * depends on is in the persist of the same batch or an earlier one, because the batch is cut from
 * all changes made so far.
 */
import { type Universe, canonicalAddress } from './address.ts'
import { InvariantError, RingError } from './errors.ts'
import {
  allocate, expire, lateError, newAllocationState, prime, refuseWaiting, release, serve, servePrimes, waitingForAny
} from './allocation.ts'
import { checkPeer } from './check.ts'
import { DEFAULT_TIMEOUTS, type Faults, type Timeouts } from './config.ts'
import { askForAddress, expireAsks, maybeAskForSpace, newDonationState, onSpaceDeny, onSpaceGrant, onSpaceRequest } from './donation.ts'
import { claim, initTick, INIT_KEY, needRing, newInitState, onInitMessage } from './init.ts'
import { newNodeInitState, nodeInitReachable, nodeInitTick, onHello, setNodes } from './node-init.ts'
import { Outbox } from './outbox.ts'
import { usableRanges } from './owned.ts'
import { validatePaxos } from './paxos.ts'
import type { PeerState } from './peer-state.ts'
import { Ring } from './ring.ts'
import { absorbDelta, absorbRing, gossipTick, greet, onDigest, onHint, outOfReach, ringChanged, snapshot, takeDelta, wholeRing } from './ring-sync.ts'
import { Space } from './space.ts'
import { type PeerStatus, peerStatus, statusOf } from './status.ts'
import { onTakeoverMessage, rmpeer, takeoverTarget, takeoverTick } from './takeover.ts'
import { newVotingState } from './voting.ts'
import type { Allocation, CoreError, InitMode, Message, NodeRecord, Offset, PeerId, PersistDelta, PersistedPeer, Ready, RequestId, RingState } from './types.ts'

/** `P`: the payload each allocation carries from its request to the persist batch; the core never reads it. */
export interface PeerConfig<P> {
  readonly id: PeerId
  readonly nickname: string
  /** This node's address, announced in its member record for routing; none when undefined. */
  readonly address?: string
  readonly universe: Universe
  readonly init: InitMode
  /** Uniform in [0, 1): the only randomness the peer uses. */
  readonly random: () => number
  readonly persisted?: PersistedPeer<P>
  /** Ask for more space when fewer than this many addresses are free. */
  readonly lowWater?: bigint
  readonly timeouts?: Partial<Timeouts>
  /** Check ring, space and their agreement after every call (default true). */
  readonly checks?: boolean
  /** Test only: deliberate bugs the simulator must catch. */
  readonly faults?: Faults
}

export interface Peer<P> {
  readonly id: PeerId
  tick (): void
  step (from: PeerId, message: Message): void
  setReachable (peers: Iterable<PeerId>): void
  /** One peer became reachable (`up`) or unreachable: setReachable with that one change, without the whole set. */
  reachChanged (peer: PeerId, up: boolean): void
  /** kubernetes init: the latest Node list (feed only lists that were read in full). */
  setNodes (nodes: readonly NodeRecord[]): void
  /** `payload` is persisted with the allocation this request makes (not if `key` is held already). */
  allocate (id: RequestId, key: string, payload: P, address?: Offset): void
  release (id: RequestId, key: string): void
  /** `force`: decide alone, without a vote (the operator's word that the others are gone too). */
  rmpeer (id: RequestId, target: PeerId, force?: boolean): void
  prime (id: RequestId): void
  status (): PeerStatus
  /** What an allocation of `address` (or of any address) waiting now would fail with at its deadline. */
  lateError (address?: Offset): CoreError
  hasReady (): boolean
  /** Everything since the last advance(); the same batch again until advance() is called. */
  ready (): Ready<P>
  advance (): void
  /** Read-only views for status pages, metrics and the simulator. */
  ring (): RingState
  allocations (): ReadonlyMap<string, Allocation<P>>
  /** The heir (or this peer's own id, the removal compacted away) once this peer learned it was removed; it then does nothing more. */
  removedBy (): PeerId | null
  checkInvariants (): Error | null
}

/** A small universe still deserves a low-water mark of one; a /12 asks when 16 are left. */
const defaultLowWater = (u: Universe): bigint => {
  const w = u.size / 256n
  return w < 1n ? 1n : w > 16n ? 16n : w
}

export function createPeer<P> (config: PeerConfig<P>): Peer<P> {
  const u = config.universe
  const p = config.persisted
  if (config.address !== undefined && canonicalAddress(config.address) !== config.address) {
    throw new RingError(`node address "${config.address}" is not an IP address in canonical form`)
  }
  const s: PeerState<P> = {
    id: config.id,
    nickname: config.nickname,
    address: config.address,
    universe: u,
    init: config.init,
    random: config.random,
    t: { ...DEFAULT_TIMEOUTS, ...config.timeouts },
    faults: config.faults ?? {},
    ring: p === undefined ? Ring.empty(u) : Ring.fromState(u, p.ring),
    space: new Space(u),
    reachable: new Set(),
    now: 0,
    removedBy: null,
    unnamed: false,
    held: p !== undefined && (p.allocations.length > 0 || p.ring.entries.some(e => e.owner === config.id)),
    conflicts: 0,
    out: new Outbox(),
    snap: null,
    mutations: 0,
    synced: { of: null, peers: new Set() },
    told: { of: null, peers: new Set() },
    dig: null,
    raised: null,
    lastSent: Ring.empty(u).toState(),
    announceAt: null,
    roundWaits: false,
    repeats: 0,
    changedAt: 0,
    pulling: null,
    ahead: null,
    early: [],
    hints: new Map(),
    reported: null,
    allocation: newAllocationState<P>(),
    donation: newDonationState(config.lowWater ?? defaultLowWater(u)),
    initState: newInitState(),
    nodeInit: newNodeInitState(),
    takeovers: new Map(),
    voting: newVotingState(p?.acceptor ?? [])
  }
  s.lastSent = s.ring.toState()
  s.space.setOwned(usableRanges(s.ring, s.id, s.faults.heirSkipsSettle === true))
  for (const a of p?.allocations ?? []) {
    if (s.space.claim(a.offset) !== 'ok') throw new InvariantError(`persisted allocation ${a.key} at offset ${a.offset} is not in this peer's free ranges`)
    s.allocation.allocations.set(a.key, a)
  }
  if (!s.ring.isEmpty()) ringChanged(s)
  else if (config.init.kind === 'seed') claim(s, config.init.peers)
  const checks = config.checks ?? true
  let checked = -1
  let inFlight: Ready<P> | null = null
  /** The outbox `inFlight` was cut from, then, once acted on, the one the next cut empties and gathers in. */
  let inFlightOut: Outbox | null = null
  let acted: Outbox | null = null

  const notReady = (): string => statusOf(s).text
  const askFor = (owner: PeerId, address: Offset): void => askForAddress(s, s.donation, owner, address)
  const wantRing = (): void => needRing(s, s.initState, s.voting)

  /** Peers that just became reachable: greeted with our digest, and told of in a Kubernetes init. */
  const welcome = (fresh: readonly PeerId[]): void => {
    greet(s, fresh)
    if (s.removedBy === null) nodeInitReachable(s, s.nodeInit, fresh)
  }

  /** Every call ends here: serve what can be served, ask for space if needed, and check. */
  const finish = (): void => {
    if (s.removedBy === null) {
      servePrimes(s, s.allocation)
      serve(s, s.allocation, askFor)
      maybeAskForSpace(s, s.donation, () => waitingForAny(s.allocation))
    }
    if (checks && checked !== s.mutations) {
      checked = s.mutations
      const e = checkPeer(s)
      if (e !== null) throw e
    }
  }

  return {
    id: s.id,
    tick () {
      s.now++
      if (s.removedBy === null) {
        initTick(s, s.initState, s.voting)
        nodeInitTick(s, s.nodeInit)
        takeoverTick(s, s.takeovers, s.voting)
        expireAsks(s, s.donation)
        expire(s, s.allocation, notReady)
        gossipTick(s)
      }
      finish()
    },
    step (from, message) {
      if (s.removedBy !== null || from === s.id) return
      const bad = validateMessage(message, s.universe.size)
      if (bad !== null) {
        s.out.events.push({ kind: 'rejected-ring', from, reason: bad })
        return
      }
      if (s.ring.isRemoved(from)) {
        // A removed peer may not know yet: our ring tells it to stop. Nothing it says is acted on.
        s.out.send(from, wholeRing(s))
        return
      }
      dispatch(s, from, message)
      finish()
    },
    setReachable (peers) {
      const next = new Set(peers)
      next.delete(s.id)
      const fresh = [...next].filter(q => !s.reachable.has(q))
      for (const q of s.reachable) if (!next.has(q)) outOfReach(s, q)
      s.reachable = next
      welcome(fresh)
      finish()
    },
    reachChanged (q, up) {
      if (q !== s.id && up !== s.reachable.has(q)) {
        if (!up) {
          s.reachable.delete(q)
          outOfReach(s, q)
        } else {
          s.reachable.add(q)
          welcome([q])
        }
      }
      finish()
    },
    setNodes (nodes) {
      if (s.removedBy === null) setNodes(s, s.nodeInit, nodes)
      finish()
    },
    allocate (id, key, payload, address) {
      if (allocate(s, s.allocation, id, key, payload, address ?? null)) wantRing()
      finish()
    },
    release (id, key) { release(s, s.allocation, id, key); finish() },
    rmpeer (id, target, force) { rmpeer(s, s.takeovers, s.voting, id, target, force === true); finish() },
    prime (id) {
      if (prime(s, s.allocation, id)) wantRing()
      finish()
    },
    status: () => peerStatus(s),
    lateError: address => lateError(s, address ?? null, notReady),
    hasReady: () => inFlight !== null || !s.out.isEmpty(),
    ready () {
      if (inFlight === null) {
        inFlightOut = s.out
        s.out = acted?.reset() ?? new Outbox()
        acted = null
        inFlight = cut(s, inFlightOut)
      }
      return inFlight
    },
    advance () {
      inFlight = null
      acted = inFlightOut
      inFlightOut = null
    },
    ring: () => snapshot(s),
    allocations: () => s.allocation.allocations,
    removedBy: () => s.removedBy,
    checkInvariants: () => checkPeer(s)
  }
}

function dispatch (s: PeerState, from: PeerId, m: Message): void {
  switch (m.type) {
    case 'ring': absorbRing(s, from, m.ring, m.hints); return
    case 'delta': absorbDelta(s, from, m.delta); return
    case 'digest': onDigest(s, from, m.digest, m.reply); return
    case 'pull': s.out.send(from, wholeRing(s)); return
    case 'hint': onHint(s, from, m.free); return
    case 'space-request': onSpaceRequest(s, s.donation, from, m); return
    case 'space-grant': onSpaceGrant(s, s.donation, from, m); return
    case 'space-deny': {
      const taken = onSpaceDeny(s, s.donation, from, m)
      if (taken !== null) refuseWaiting(s, s.allocation, taken, from)
      return
    }
    case 'init-hello': onHello(s, s.nodeInit, from, m); return
    case 'paxos': {
      if (m.key === INIT_KEY) { onInitMessage(s, s.initState, s.voting, from, m.msg); return }
      const target = takeoverTarget(m.key)
      if (target !== null) onTakeoverMessage(s, s.takeovers, s.voting, from, target, m.msg)
    }
  }
}

/** Takes everything gathered in `o` (the peer gathers the next batch elsewhere) as one Ready. */
function cut<P> (s: PeerState<P>, o: Outbox): Ready<P> {
  const delta = o.gossip && s.removedBy === null && !s.ring.isEmpty() ? takeDelta(s) : null
  const ring = o.ringDirty ? snapshot(s) : null
  // A net put is the allocation held now: the very record (payload included) the core keeps. One
  // pass, no arrays per entry, no spread copies: this runs once per batch, on every allocation's path.
  let persist: PersistDelta<P> | null = null
  if (o.ringDirty || o.acceptor.size > 0 || o.allocations.size > 0) {
    // Made at their size (one push made an empty array room for 17).
    const changes = o.allocations
    let deleted = 0
    for (let i = 0; i < changes.size; i++) if (changes.offsetAt(i) === null) deleted++
    const puts = new Array<Allocation<P>>(changes.size - deleted)
    const deletes = new Array<string>(deleted)
    for (let i = 0, d = 0, u = 0; i < changes.size; i++) {
      const offset = changes.offsetAt(i)
      if (offset === null) deletes[d++] = changes.keyAt(i)
      else puts[u++] = heldAt(s, changes.keyAt(i), offset)
    }
    // The parts are set only when present (absent, not undefined), as a shell reads them.
    const p: { -readonly [K in keyof PersistDelta<P>]: PersistDelta<P>[K] } = { putAllocations: puts, deleteAllocations: deletes }
    if (ring !== null) p.ring = ring
    if (o.acceptor.size > 0) p.acceptor = [...o.acceptor.values()]
    persist = p
  }
  if (delta !== null) o.messages.push({ to: 'all', msg: { type: 'delta', delta } })
  return { persist, messages: o.messages, completions: o.completions, events: o.events }
}

function heldAt<P> (s: PeerState<P>, key: string, offset: Offset): Allocation<P> {
  const a = s.allocation.allocations.get(key)
  if (a?.offset !== offset) throw new InvariantError(`${s.id}: the batch puts ${key} at ${offset}, but the peer holds ${a?.offset ?? 'nothing'} for it`)
  return a
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null
const isRing = (x: unknown): boolean =>
  isObj(x) && typeof x.universe === 'string' && Array.isArray(x.seeds) && Array.isArray(x.entries) &&
  Array.isArray(x.members) && Array.isArray(x.removed)
const isPart = (x: unknown): boolean =>
  isObj(x) && typeof x.universe === 'string' && Array.isArray(x.seeds) && Array.isArray(x.runs) &&
  Array.isArray(x.members) && Array.isArray(x.removed)
// The runs' ranges against the universe are the ring's validation on merge.
const isDelta = (x: unknown): boolean => isObj(x) && Number.isSafeInteger(x.seeds) && isPart(x.part)
const isDigest = (x: unknown): boolean =>
  isObj(x) && typeof x.hash === 'bigint' && x.hash >= 0n && x.hash < 1n << 64n && typeof x.weight === 'bigint' && x.weight >= 0n

const isNode = (x: unknown): boolean =>
  isObj(x) && typeof x.name === 'string' && x.name !== '' && Number.isSafeInteger(x.created) && (x.created as number) >= 0

/**
 * Shape checks on a message from the network, every offset and count against the universe (of
 * `size` addresses); the ring's own validation does the rest on merge. What passes cannot make the
 * core throw: a throw from step is a bug.
 */
function validateMessage (m: unknown, size: bigint): string | null {
  const offsetOk = (x: unknown): boolean => typeof x === 'bigint' && x >= 0n && x < size
  const countOk = (x: unknown): boolean => typeof x === 'bigint' && x >= 0n && x <= size
  if (!isObj(m)) return 'message is not an object'
  switch (m.type) {
    case 'ring': {
      if (!isRing(m.ring) || !Array.isArray(m.hints)) return 'ring message without a ring'
      return m.hints.every(h => isObj(h) && typeof h.peer === 'string' && h.peer !== '' && countOk(h.free)) ? null : 'ring message with a bad hint'
    }
    case 'delta': return isDelta(m.delta) ? null : 'bad ring delta'
    case 'digest': return isDigest(m.digest) && typeof m.reply === 'boolean' ? null : 'bad digest'
    case 'pull': return null
    case 'hint': return countOk(m.free) ? null : 'hint with a free count outside the range'
    case 'space-request':
      return m.address === undefined || offsetOk(m.address) ? null : 'space request with an address outside the range'
    case 'space-grant': {
      const r = m.range
      if (!isDelta(m.delta)) return 'space grant without a ring delta'
      return isObj(r) && offsetOk(r.start) && typeof r.end === 'bigint' && (r.start as bigint) < r.end && r.end <= size ? null : 'space grant with a range outside the range'
    }
    case 'space-deny': return isDigest(m.digest) && typeof m.reason === 'string' ? null : 'bad space deny'
    case 'paxos': {
      if (typeof m.key !== 'string' || (m.key !== INIT_KEY && takeoverTarget(m.key) === null)) return `paxos message for unknown key ${String(m.key)}`
      return validatePaxos(m.msg)
    }
    case 'init-hello': return isNode(m.node) && (m.initialiser === null || isNode(m.initialiser)) && typeof m.reply === 'boolean' ? null : 'bad init hello'
    default: return `unknown message type ${String(m.type)}`
  }
}
