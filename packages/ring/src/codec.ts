/**
 * Versioned msgpackr encoding of everything the core sends or persists. Bigints travel as minimal
 * big-endian bytes (IPv6 offsets do not fit int64); every peer id in a ring is written once, in a table.
 * The decoder trusts nothing: every field is checked, and anything off is a DecodeError naming where.
 */
import { Packr } from 'msgpackr'
import { canonicalAddress } from './address.ts'
import { DecodeError, NewerCodecError } from './errors.ts'
import type {
  AcceptorRecord, Allocation, Ballot, Cidr, Entry, Member, Message, NodeRecord, Offset, PaxosMessage, PeerId, Removal, RingState
} from './types.ts'

/**
 * 2: member records may carry a node address (a fifth item). Older builds ignore version 2 as newer
 * (no penalty) instead of rejecting its rings as malformed; this build still reads version 1.
 */
export const CODEC_VERSION = 2
const OLDEST_READABLE = 1
const MAX_STRING = 1024
const MAX_BIGINT_BYTES = 17

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })

function bigToBytes (v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative bigint')
  const bytes: number[] = []
  for (let x = v; x > 0n; x >>= 8n) bytes.unshift(Number(x & 255n))
  return Uint8Array.from(bytes)
}

// ---- readers: each checks one field and names it on failure ----

function fail (path: string, what: string): never {
  throw new DecodeError(`${path}: ${what}`)
}
function arr (x: unknown, path: string, len?: number): unknown[] {
  if (!Array.isArray(x)) fail(path, 'expected an array')
  if (len !== undefined && x.length !== len) fail(path, `expected ${len} items, got ${x.length}`)
  return x
}
function str (x: unknown, path: string): string {
  if (typeof x !== 'string') fail(path, 'expected a string')
  if (x.length > MAX_STRING) fail(path, `string longer than ${MAX_STRING}`)
  return x
}
function peer (x: unknown, path: string): PeerId {
  const s = str(x, path)
  if (s.length === 0) fail(path, 'empty peer id')
  return s as PeerId
}
function int (x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(path, 'expected a non-negative integer')
  return x
}
function big (x: unknown, path: string): bigint {
  if (!(x instanceof Uint8Array)) fail(path, 'expected big-endian bytes')
  if (x.length > MAX_BIGINT_BYTES) fail(path, 'number too large')
  let v = 0n
  for (const b of x) v = (v << 8n) | BigInt(b)
  return v
}
function nodeAddress (x: unknown, path: string): string {
  const s = str(x, path)
  if (canonicalAddress(s) !== s) fail(path, `"${s.slice(0, 64)}" is not an IP address in canonical form`)
  return s
}
function peers (x: unknown, path: string): PeerId[] {
  return arr(x, path).map((p, i) => peer(p, `${path}[${i}]`))
}

// ---- ring ----

function ringToWire (s: RingState): unknown[] {
  // Every peer id is written once; seeds, owners, members, acks and removals refer to it by index.
  const table: PeerId[] = []
  const index = new Map<PeerId, number>()
  const ix = (p: PeerId): number => {
    let i = index.get(p)
    if (i === undefined) { i = table.push(p) - 1; index.set(p, i) }
    return i
  }
  const seeds = s.seeds.map(ix)
  const entries: unknown[] = []
  for (const e of s.entries) entries.push(bigToBytes(e.token), ix(e.owner), e.version, bigToBytes(e.free))
  // The address is a fifth item only when present, so records without one keep their old layout.
  const members = s.members.map(m => [ix(m.peer), m.nickname, m.version, m.acks.map(ix), ...(m.address === undefined ? [] : [m.address])])
  const removed = s.removed.map(r => [ix(r.peer), ix(r.heir)])
  return [s.universe, table, seeds, entries, members, removed]
}

function ringFromWire (x: unknown, path: string): RingState {
  const [universe, table, seeds, flat, members, removed] = arr(x, path, 6)
  const peersTable = peers(table, `${path}.peers`)
  const ref = (v: unknown, p: string): PeerId => peersTable[int(v, p)] ?? fail(p, 'index outside the peer table')
  const refs = (v: unknown, p: string): PeerId[] => arr(v, p).map((r, i) => ref(r, `${p}[${i}]`))
  const f = arr(flat, `${path}.entries`)
  if (f.length % 4 !== 0) fail(`${path}.entries`, 'length is not a multiple of 4')
  const entries: Entry[] = []
  for (let i = 0; i < f.length; i += 4) {
    const p = `${path}.entries[${i / 4}]`
    entries.push({ token: big(f[i], `${p}.token`), owner: ref(f[i + 1], `${p}.owner`), version: int(f[i + 2], `${p}.version`), free: big(f[i + 3], `${p}.free`) })
  }
  return {
    universe: str(universe, `${path}.universe`) as Cidr,
    seeds: refs(seeds, `${path}.seeds`),
    entries,
    members: arr(members, `${path}.members`).map((m, i): Member => {
      const p = `${path}.members[${i}]`
      const items = arr(m, p)
      if (items.length !== 4 && items.length !== 5) fail(p, `expected 4 or 5 items, got ${items.length}`)
      const [id, nickname, version, acks, address] = items
      const member: Member = { peer: ref(id, `${p}.peer`), nickname: str(nickname, `${p}.nickname`), version: int(version, `${p}.version`), acks: refs(acks, `${p}.acks`) }
      return items.length === 4 ? member : { ...member, address: nodeAddress(address, `${p}.address`) }
    }),
    removed: arr(removed, `${path}.removed`).map((r, i): Removal => {
      const p = `${path}.removed[${i}]`
      const [dead, heir] = arr(r, p, 2)
      return { peer: ref(dead, `${p}.peer`), heir: ref(heir, `${p}.heir`) }
    })
  }
}

// ---- paxos ----

const ballotToWire = (b: Ballot): unknown[] => [b.n, b.proposer]
function ballotFromWire (x: unknown, path: string): Ballot {
  const [n, proposer] = arr(x, path, 2)
  return { n: int(n, `${path}.n`), proposer: peer(proposer, `${path}.proposer`) }
}
const optBallot = (x: unknown, path: string): Ballot | null => (x === null ? null : ballotFromWire(x, path))

type Accepted = AcceptorRecord['accepted']
const acceptedToWire = (a: Accepted): unknown => (a === null ? null : [ballotToWire(a.ballot), a.value])
function acceptedFromWire (x: unknown, path: string): Accepted {
  if (x === null) return null
  const [b, v] = arr(x, path, 2)
  return { ballot: ballotFromWire(b, `${path}.ballot`), value: peers(v, `${path}.value`) }
}

const PAXOS_KINDS = ['prepare', 'promise', 'accept', 'accepted', 'nack'] as const

function paxosToWire (m: PaxosMessage): unknown[] {
  const k = PAXOS_KINDS.indexOf(m.kind)
  switch (m.kind) {
    case 'prepare': return [k, ballotToWire(m.ballot), m.electorate]
    case 'promise': return [k, ballotToWire(m.ballot), acceptedToWire(m.accepted)]
    case 'accept': return [k, ballotToWire(m.ballot), m.value]
    case 'accepted': return [k, ballotToWire(m.ballot)]
    case 'nack': return [k, ballotToWire(m.ballot), m.promised === null ? null : ballotToWire(m.promised), m.reason]
  }
}

function paxosFromWire (x: unknown, path: string): PaxosMessage {
  const a = arr(x, path)
  const kind = PAXOS_KINDS[int(a[0], `${path}.kind`)]
  const ballot = ballotFromWire(a[1], `${path}.ballot`)
  switch (kind) {
    case 'prepare': arr(a, path, 3); return { kind, ballot, electorate: int(a[2], `${path}.electorate`) }
    case 'promise': arr(a, path, 3); return { kind, ballot, accepted: acceptedFromWire(a[2], `${path}.accepted`) }
    case 'accept': arr(a, path, 3); return { kind, ballot, value: peers(a[2], `${path}.value`) }
    case 'accepted': arr(a, path, 2); return { kind, ballot }
    case 'nack': arr(a, path, 4); return { kind, ballot, promised: optBallot(a[2], `${path}.promised`), reason: str(a[3], `${path}.reason`) }
    default: return fail(`${path}.kind`, 'unknown paxos message kind')
  }
}

// ---- nodes ----

const nodeToWire = (n: NodeRecord): unknown[] => [n.name, n.created]
function nodeFromWire (x: unknown, path: string): NodeRecord {
  const [name, created] = arr(x, path, 2)
  const n = str(name, `${path}.name`)
  if (n.length === 0) fail(`${path}.name`, 'empty node name')
  return { name: n, created: int(created, `${path}.created`) }
}

// ---- framing ----

function pack (body: unknown[]): Uint8Array {
  return packr.pack([CODEC_VERSION, ...body])
}

function unpack (bytes: Uint8Array, what: string): unknown[] {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (e) {
    throw new DecodeError(`${what}: not msgpack (${(e as Error).message})`)
  }
  const a = arr(value, what)
  const version = a[0]
  if (typeof version === 'number' && Number.isSafeInteger(version) && version > CODEC_VERSION) {
    throw new NewerCodecError(version, `${what}: codec version ${version} is newer than this build's ${CODEC_VERSION}`)
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < OLDEST_READABLE) {
    fail(what, `unsupported codec version ${String(version)} (this build reads ${OLDEST_READABLE} to ${CODEC_VERSION})`)
  }
  return a.slice(1)
}

const MESSAGE_TYPES = ['ring', 'space-request', 'space-grant', 'space-deny', 'paxos', 'init-hello'] as const

export function encodeMessage (m: Message): Uint8Array {
  const t = MESSAGE_TYPES.indexOf(m.type)
  switch (m.type) {
    case 'ring': return pack([t, ringToWire(m.ring)])
    case 'space-request': return pack([t, ringToWire(m.ring), m.address === undefined ? null : bigToBytes(m.address)])
    case 'space-grant': return pack([t, ringToWire(m.ring), bigToBytes(m.range.start), bigToBytes(m.range.end)])
    case 'space-deny': return pack([t, ringToWire(m.ring), m.reason])
    case 'paxos': return pack([t, m.key, paxosToWire(m.msg)])
    case 'init-hello': return pack([t, nodeToWire(m.node), m.initialiser === null ? null : nodeToWire(m.initialiser), m.reply])
  }
}

export function decodeMessage (bytes: Uint8Array): Message {
  const a = unpack(bytes, 'message')
  const type = MESSAGE_TYPES[int(a[0], 'message.type')]
  switch (type) {
    case 'ring': arr(a, 'message', 2); return { type, ring: ringFromWire(a[1], 'message.ring') }
    case 'space-request': {
      arr(a, 'message', 3)
      const ring = ringFromWire(a[1], 'message.ring')
      return a[2] === null ? { type, ring } : { type, ring, address: big(a[2], 'message.address') }
    }
    case 'space-grant': {
      arr(a, 'message', 4)
      return { type, ring: ringFromWire(a[1], 'message.ring'), range: { start: big(a[2], 'message.range.start'), end: big(a[3], 'message.range.end') } }
    }
    case 'space-deny': arr(a, 'message', 3); return { type, ring: ringFromWire(a[1], 'message.ring'), reason: str(a[2], 'message.reason') }
    case 'paxos': arr(a, 'message', 3); return { type, key: str(a[1], 'message.key'), msg: paxosFromWire(a[2], 'message.paxos') }
    case 'init-hello': {
      arr(a, 'message', 4)
      if (typeof a[3] !== 'boolean') fail('message.reply', 'expected a boolean')
      return { type, node: nodeFromWire(a[1], 'message.node'), initialiser: a[2] === null ? null : nodeFromWire(a[2], 'message.initialiser'), reply: a[3] }
    }
    default: return fail('message.type', 'unknown message type')
  }
}

// ---- persisted values ----

export function encodeRingState (s: RingState): Uint8Array { return pack([ringToWire(s)]) }
export function decodeRingState (bytes: Uint8Array): RingState {
  const a = unpack(bytes, 'ring')
  return ringFromWire(arr(a, 'ring', 1)[0], 'ring')
}

/** An allocation with its payload as bytes: the shell encodes its payload, the core never reads it. */
export function encodeAllocation (x: Allocation<Uint8Array>): Uint8Array { return pack([x.key, bigToBytes(x.offset), x.payload]) }
export function decodeAllocation (bytes: Uint8Array): Allocation<Uint8Array> {
  const a = arr(unpack(bytes, 'allocation'), 'allocation', 3)
  if (!(a[2] instanceof Uint8Array)) fail('allocation.payload', 'expected bytes')
  return { key: str(a[0], 'allocation.key'), offset: big(a[1], 'allocation.offset') as Offset, payload: a[2] }
}
/** An allocation record of the shape written before allocations carried a payload: key and offset. */
export function decodeBareAllocation (bytes: Uint8Array): { readonly key: string, readonly offset: Offset } {
  const a = arr(unpack(bytes, 'allocation'), 'allocation', 2)
  return { key: str(a[0], 'allocation.key'), offset: big(a[1], 'allocation.offset') as Offset }
}

export function encodeAcceptorRecord (r: AcceptorRecord): Uint8Array {
  return pack([r.key, r.promised === null ? null : ballotToWire(r.promised), acceptedToWire(r.accepted)])
}
export function decodeAcceptorRecord (bytes: Uint8Array): AcceptorRecord {
  const a = arr(unpack(bytes, 'acceptor'), 'acceptor', 3)
  return { key: str(a[0], 'acceptor.key'), promised: optBallot(a[1], 'acceptor.promised'), accepted: acceptedFromWire(a[2], 'acceptor.accepted') }
}
