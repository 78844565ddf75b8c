/**
 * Versioned msgpackr encoding of everything the core sends or persists. Bigints travel as minimal
 * big-endian bytes (IPv6 offsets do not fit int64); every peer id in a ring is written once, in a
 * table, as the bytes its base58 text spells. The decoder trusts nothing: every field is checked,
 * and anything off is a DecodeError naming where.
 */
import { Packr } from 'msgpackr'
import { base58Decode, base58Encode } from './base58.ts'
import { ringFromWireV2 } from './codec-v2.ts'
import { upgradeRing } from './ring-upgrade.ts'
import { PAXOS_KINDS, acceptedFromWire, arr, big, bool, commonFromWire, fail, int, nodeAddress, num, optBallot, peerText, str } from './codec-read.ts'
import { NewerCodecError, OlderCodecError } from './errors.ts'
import { writeAscii, writeBigEndian, writeBin } from './msgpack-write.ts'
import type {
  AcceptorRecord, Allocation, Ballot, Cidr, Digest, Entry, Hint, Member, Message, NodeRecord, Offset, PaxosMessage, PeerId, Removal, RingDelta, RingPart, RingState, Run
} from './types.ts'

/**
 * 6: a delta that raises its sender's floor carries the digest of the ring it was raised on (a third
 * item), so a receiver holding that ring raises the floor without pulling the whole ring. Only such
 * a delta is framed as 6; everything else keeps version 5's layout and is framed as 5, so version-5
 * builds read it: they ignore a raising delta as newer (no penalty), are then behind, and pull the
 * whole ring as they do from a version-5 raiser. The two versions hear each other.
 * 5: removals are compacted under a floor: a ring and a part carry the floor and the level, a member
 * record its stamp, a completed removal its completion stamp. Messages of 4 and before are ignored as
 * older, without penalty (a version-4 agent ignores 5 as newer); a persisted ring of 4 is read with
 * every record stamped 0 and every completion stamped 1 (so the first floor compacts them).
 * 4: a ring maps addresses to (owner, version) with Lamport versions, merged address by address;
 * a delta carries runs with their ranges (no bounds); a digest's weight is bytes. Messages of 3 and
 * before (per-token versions) are ignored as older, without penalty, and version-3 builds ignore
 * version 4 as newer; a persisted ring of 1 to 3 is read and upgraded (ring-upgrade.ts).
 * 3: gossip sends what changed (deltas, digests, hints outside the ring), entries carry no free
 * count, tokens travel as gaps, peer ids as bytes, a member's id is its place in the peer table.
 * 2: member records may carry a node address (a fifth item).
 */
export const CODEC_VERSION = 6
const OLDEST_READABLE = 1
/** The oldest version whose messages this build merges: before it, rings had no floor (and before 4, versions were per token). */
export const OLDEST_SPOKEN = 5
/** What version 5's layout expresses is framed as 5 (read by version-5 builds too); only a floor-raising delta needs 6. */
const PLAIN_VERSION = 5
/** The stamp a completed removal of a ring persisted by version 4 or before gets. */
const LEGACY_COMPLETION = 1

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })

function bigToBytes (v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative bigint')
  const bytes: number[] = []
  for (let x = v; x > 0n; x >>= 8n) bytes.unshift(Number(x & 255n))
  return Uint8Array.from(bytes)
}

/** Peer id -> the bytes to send for it (null: send the text); ids repeat in every message. */
const idBytes = new Map<PeerId, Uint8Array | null>()
const ID_CACHE = 100_000

function peerToWire (p: PeerId): Uint8Array | string {
  let b = idBytes.get(p)
  if (b === undefined) {
    b = base58Decode(p)
    // Only bytes that spell exactly this text again: anything else would change the id.
    if (b !== null && (b.length > 64 || base58Encode(b) !== p)) b = null
    if (idBytes.size >= ID_CACHE) idBytes.clear()
    idBytes.set(p, b)
  }
  return b ?? p
}

// ---- ring ----

type Body = Pick<RingState, 'universe' | 'seeds' | 'members' | 'removed' | 'floor' | 'level'>

/**
 * A ring or part of one, its runs written by `writeRuns`. Every peer id is written once, members
 * first: member i is the table's i-th peer. Seeds, owners, acks, removals and hints refer to the
 * table by index.
 */
function bodyToWire (s: Body, writeRuns: (ix: (p: PeerId) => number) => unknown[], hints: readonly Hint[]): unknown[] {
  const table: PeerId[] = s.members.map(m => m.peer)
  const index = new Map<PeerId, number>(table.map((p, i) => [p, i]))
  const ix = (p: PeerId): number => {
    let i = index.get(p)
    if (i === undefined) { i = table.push(p) - 1; index.set(p, i) }
    return i
  }
  const seeds = s.seeds.map(ix)
  const runs = writeRuns(ix)
  // The address is a fifth item only when present.
  const members = s.members.map(m => [m.nickname, m.version, m.acks.map(ix), m.since, m.born, ...(m.address === undefined ? [] : [m.address])])
  const removed = s.removed.map(r => [ix(r.peer), ix(r.heir), ...(r.done !== undefined ? [r.done] : [])])
  const hinted: unknown[] = []
  for (const h of hints) hinted.push(ix(h.peer), bigToBytes(h.free))
  return [s.universe, table.map(peerToWire), seeds, runs, members, removed, hinted, s.floor, s.level]
}

/** A gap or length: an integer when it fits 32 bits, else bytes. */
const sizeToWire = (n: bigint): unknown => (n < 1n << 32n ? Number(n) : bigToBytes(n))

function ringToWire (s: RingState, hints: readonly Hint[] = []): unknown[] {
  // Tokens are sorted: each is written as its gap from the one before.
  return bodyToWire(s, ix => {
    const out: unknown[] = []
    let prev = 0n
    for (const e of s.entries) { out.push(sizeToWire(e.token - prev), ix(e.owner), e.version); prev = e.token }
    return out
  }, hints)
}

/** A part's runs: each as its gap from the end of the one before, its length, owner and version. */
function partToWire (s: RingPart): unknown[] {
  return bodyToWire(s, ix => {
    const out: unknown[] = []
    let prev = 0n
    for (const r of s.runs) { out.push(sizeToWire(r.range.start - prev), sizeToWire(r.range.end - r.range.start), ix(r.owner), r.version); prev = r.range.end }
    return out
  }, [])
}

interface BodyFromWire {
  readonly body: Body
  readonly flat: unknown[]
  readonly ref: (v: unknown, p: string) => PeerId
  readonly hints: Hint[]
}

/**
 * What a ring and a part share; `flat` is the runs as written, for the caller to read. `legacy`: the
 * layout of versions 3 and 4 (no floor, level or stamps), read with records stamped 0 and
 * completions stamped LEGACY_COMPLETION.
 */
function bodyFromWire (x: unknown, path: string, legacy = false): BodyFromWire {
  const items = arr(x, path, legacy ? 7 : 9)
  const [universe, table, seeds, flat, members, removed, hinted] = items
  const peersTable = arr(table, `${path}.peers`).map((p, i) => peerText(p, `${path}.peers[${i}]`))
  const ref = (v: unknown, p: string): PeerId => peersTable[int(v, p)] ?? fail(p, 'index outside the peer table')
  const refs = (v: unknown, p: string): PeerId[] => arr(v, p).map((r, i) => ref(r, `${p}[${i}]`))
  const ms = arr(members, `${path}.members`)
  if (ms.length > peersTable.length) fail(`${path}.members`, `${ms.length} members but ${peersTable.length} peers in the table`)
  const h = arr(hinted, `${path}.hints`)
  if (h.length % 2 !== 0) fail(`${path}.hints`, 'length is not a multiple of 2')
  const hints: Hint[] = []
  for (let i = 0; i < h.length; i += 2) hints.push({ peer: ref(h[i], `${path}.hints[${i / 2}].peer`), free: big(h[i + 1], `${path}.hints[${i / 2}].free`) })
  const parsed = {
    universe: str(universe, `${path}.universe`) as Cidr,
    seeds: refs(seeds, `${path}.seeds`),
    members: ms.map((m, i): Member => {
      const p = `${path}.members[${i}]`
      const fields = arr(m, p)
      const bare = legacy ? 3 : 5
      if (fields.length !== bare && fields.length !== bare + 1) fail(p, `expected ${bare} or ${bare + 1} items, got ${fields.length}`)
      const [nickname, version, acks] = fields
      const since = legacy ? 0 : int(fields[3], `${p}.since`)
      const born = legacy ? 0 : int(fields[4], `${p}.born`)
      const member: Member = { peer: peersTable[i]!, nickname: str(nickname, `${p}.nickname`), version: int(version, `${p}.version`), acks: refs(acks, `${p}.acks`), since, born }
      return fields.length === bare ? member : { ...member, address: nodeAddress(fields[bare], `${p}.address`) }
    }),
    removed: arr(removed, `${path}.removed`).map((r, i): Removal => {
      const p = `${path}.removed[${i}]`
      const items = arr(r, p)
      if (items.length !== 2 && items.length !== 3) fail(p, `expected 2 or 3 items, got ${items.length}`)
      const [dead, heir, done] = items
      const removal: Removal = { peer: ref(dead, `${p}.peer`), heir: ref(heir, `${p}.heir`) }
      if (items.length === 2) return removal
      if (legacy) {
        if (done !== true) fail(`${p}.done`, 'expected true')
        return { ...removal, done: LEGACY_COMPLETION }
      }
      return { ...removal, done: int(done, `${p}.done`) }
    })
  }
  const body: Body = legacy
    ? { ...parsed, floor: 0, level: parsed.removed.some(r => r.done !== undefined) ? LEGACY_COMPLETION : 0 }
    : { ...parsed, floor: int(items[7], `${path}.floor`), level: int(items[8], `${path}.level`) }
  return { body, flat: arr(flat, `${path}.entries`), ref, hints }
}

/** Entries written as (token gap, owner, version) triples. */
function entriesFromWire (flat: unknown[], ref: BodyFromWire['ref'], path: string): Entry[] {
  if (flat.length % 3 !== 0) fail(`${path}.entries`, 'length is not a multiple of 3')
  const entries: Entry[] = []
  let token = 0n
  for (let i = 0; i < flat.length; i += 3) {
    const p = `${path}.entries[${i / 3}]`
    token += num(flat[i], `${p}.token`)
    entries.push({ token, owner: ref(flat[i + 1], `${p}.owner`), version: int(flat[i + 2], `${p}.version`) })
  }
  return entries
}

function ringFromWire (x: unknown, path: string, legacy = false): { ring: RingState, hints: Hint[] } {
  const { body, flat, ref, hints } = bodyFromWire(x, path, legacy)
  return { ring: { ...body, entries: entriesFromWire(flat, ref, path) }, hints }
}

function partFromWire (x: unknown, path: string): RingPart {
  const { body, flat, ref } = bodyFromWire(x, path)
  if (flat.length % 4 !== 0) fail(`${path}.runs`, 'length is not a multiple of 4')
  const runs: Run[] = []
  let at = 0n
  for (let i = 0; i < flat.length; i += 4) {
    const p = `${path}.runs[${i / 4}]`
    const start = at + num(flat[i], `${p}.gap`)
    at = start + num(flat[i + 1], `${p}.length`)
    runs.push({ range: { start, end: at }, owner: ref(flat[i + 2], `${p}.owner`), version: int(flat[i + 3], `${p}.version`) })
  }
  return { ...body, runs }
}

const deltaToWire = (d: RingDelta): unknown[] => [d.seeds, partToWire(d.part), ...(d.raisedFrom !== undefined ? [digestToWire(d.raisedFrom)] : [])]
/** The version a delta is framed as: 6 only for one that names the ring its floor was raised on. */
const deltaVersion = (d: RingDelta): number => (d.raisedFrom !== undefined ? CODEC_VERSION : PLAIN_VERSION)
function deltaFromWire (x: unknown, path: string, version: number): RingDelta {
  // A version-5 frame has no third item.
  const items = arr(x, path, version <= PLAIN_VERSION ? 2 : undefined)
  if (items.length !== 2 && items.length !== 3) fail(path, `expected 2 or 3 items, got ${items.length}`)
  const [seeds, part, raisedFrom] = items
  const fp = int(seeds, `${path}.seeds`)
  if (fp > 0xffffffff) fail(`${path}.seeds`, 'fingerprint wider than 32 bits')
  const d: RingDelta = { seeds: fp, part: partFromWire(part, `${path}.part`) }
  return items.length === 2 ? d : { ...d, raisedFrom: digestFromWire(raisedFrom, `${path}.raisedFrom`) }
}

const digestToWire = (d: Digest): unknown[] => [bigToBytes(d.hash), bigToBytes(d.weight)]
function digestFromWire (x: unknown, path: string): Digest {
  const [hash, weight] = arr(x, path, 2)
  const h = big(hash, `${path}.hash`)
  if (h >= 1n << 64n) fail(`${path}.hash`, 'wider than 64 bits')
  // A weight is a sum over up to 2^128 addresses, its removals above bit 200, its floor above bit 256 (ring-digest.ts).
  return { hash: h, weight: big(weight, `${path}.weight`, 40) }
}

// ---- paxos ----

const ballotToWire = (b: Ballot): unknown[] => [b.n, b.proposer]
type Accepted = AcceptorRecord['accepted']
const acceptedToWire = (a: Accepted): unknown => (a === null ? null : [ballotToWire(a.ballot), a.value])

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

const nodeToWire = (n: NodeRecord): unknown[] => [n.name, n.created]

// ---- framing ----

function pack (body: unknown[], version = PLAIN_VERSION): Uint8Array {
  return packr.pack([version, ...body])
}

/** The body after the version, and the version. */
function unpack (bytes: Uint8Array, what: string): [unknown[], number] {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (e) {
    fail(what, `not msgpack (${(e as Error).message})`)
  }
  const a = arr(value, what)
  const version = a[0]
  if (typeof version === 'number' && Number.isSafeInteger(version) && version > CODEC_VERSION) {
    throw new NewerCodecError(version, `${what}: codec version ${version} is newer than this build's ${CODEC_VERSION}`)
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < OLDEST_READABLE) {
    fail(what, `unsupported codec version ${String(version)} (this build reads ${OLDEST_READABLE} to ${CODEC_VERSION})`)
  }
  return [a.slice(1), version]
}

/** The first six kept their numbers from version 2, which sent rings where deltas and digests go since 3. */
const MESSAGE_TYPES = ['ring', 'space-request', 'space-grant', 'space-deny', 'paxos', 'init-hello', 'delta', 'digest', 'pull', 'hint'] as const

export function encodeMessage (m: Message): Uint8Array {
  const t = MESSAGE_TYPES.indexOf(m.type)
  switch (m.type) {
    case 'ring': return pack([t, ringToWire(m.ring, m.hints)])
    case 'space-request': return pack([t, m.address === undefined ? null : bigToBytes(m.address)])
    case 'space-grant': return pack([t, deltaToWire(m.delta), bigToBytes(m.range.start), bigToBytes(m.range.end)], deltaVersion(m.delta))
    case 'space-deny': return pack([t, digestToWire(m.digest), m.reason])
    case 'paxos': return pack([t, m.key, paxosToWire(m.msg)])
    case 'init-hello': return pack([t, nodeToWire(m.node), m.initialiser === null ? null : nodeToWire(m.initialiser), m.reply])
    case 'delta': return pack([t, deltaToWire(m.delta)], deltaVersion(m.delta))
    case 'digest': return pack([t, digestToWire(m.digest), m.reply])
    case 'pull': return pack([t])
    case 'hint': return pack([t, bigToBytes(m.free)])
  }
}

export function decodeMessage (bytes: Uint8Array): Message {
  const [a, version] = unpack(bytes, 'message')
  if (version < OLDEST_SPOKEN) throw new OlderCodecError(version, `message: codec version ${version} is older than ${OLDEST_SPOKEN}, whose rings merge per token`)
  const type = MESSAGE_TYPES[int(a[0], 'message.type')]
  switch (type) {
    case 'ring': {
      arr(a, 'message', 2)
      const { ring, hints } = ringFromWire(a[1], 'message.ring')
      return { type, ring, hints }
    }
    case 'space-request': arr(a, 'message', 2); return a[1] === null ? { type } : { type, address: big(a[1], 'message.address') }
    case 'space-grant': {
      arr(a, 'message', 4)
      return { type, delta: deltaFromWire(a[1], 'message.delta', version), range: { start: big(a[2], 'message.range.start'), end: big(a[3], 'message.range.end') } }
    }
    case 'space-deny': arr(a, 'message', 3); return { type, digest: digestFromWire(a[1], 'message.digest'), reason: str(a[2], 'message.reason') }
    case 'delta': arr(a, 'message', 2); return { type, delta: deltaFromWire(a[1], 'message.delta', version) }
    case 'digest': arr(a, 'message', 3); return { type, digest: digestFromWire(a[1], 'message.digest'), reply: bool(a[2], 'message.reply') }
    case 'pull': arr(a, 'message', 1); return { type }
    case 'hint': arr(a, 'message', 2); return { type, free: big(a[1], 'message.free') }
    default: return commonFromWire(type, a) ?? fail('message.type', 'unknown message type')
  }
}

// ---- persisted values ----

export function encodeRingState (s: RingState): Uint8Array { return pack([ringToWire(s)]) }
export function decodeRingState (bytes: Uint8Array): RingState {
  const [a, version] = unpack(bytes, 'ring')
  const body = arr(a, 'ring', 1)[0]
  // Rings are framed as 5 (6 reads the same layout).
  if (version >= 5) return ringFromWire(body, 'ring').ring
  // Version 4 wrote rings without a floor; 3 in that layout too, with per-token versions.
  if (version === 4) return ringFromWire(body, 'ring', true).ring
  return upgradeRing(version < 3 ? ringFromWireV2(body, 'ring').ring : ringFromWire(body, 'ring', true).ring)
}

/** An allocation with its payload as bytes: the shell encodes its payload, the core never reads it. */
export function encodeAllocation (x: Allocation<Uint8Array>): Uint8Array {
  const { key, offset, payload } = x
  // Written by hand, byte for byte what msgpackr packs for [version, key, offset's bytes, payload]:
  // this runs for every allocation, and the general pack made about 1.4 KB of garbage a call. A key
  // not all ASCII, or an offset past 2^53 (IPv6), takes the general path.
  if (offset < 0n || offset > MAX_SAFE_OFFSET) return pack([key, bigToBytes(offset), payload])
  const need = 2 + 5 + key.length + 2 + 7 + 5 + payload.length
  if (chunk.length - used < need) { chunk = new Uint8Array(Math.max(CHUNK, need)); used = 0 }
  const b = chunk
  const start = used
  let p = start
  b[p++] = 0x94 // an array of 4
  b[p++] = PLAIN_VERSION
  p = writeAscii(b, p, key)
  if (p < 0) return pack([key, bigToBytes(offset), payload])
  const v = Number(offset)
  let len = 0
  for (let t = v; t > 0; t = Math.floor(t / 256)) len++
  b[p++] = 0xc4 // bin 8: the offset's minimal big-endian bytes
  b[p++] = len
  p = writeBigEndian(b, p, v, len)
  used = writeBin(b, p, payload)
  return b.subarray(start, used)
}
const MAX_SAFE_OFFSET = BigInt(Number.MAX_SAFE_INTEGER)
/**
 * Records are views into one shared chunk, one after the other, as msgpackr's own are: a record the
 * shell keeps (its journal does, until a fold) is then one small view, not a buffer of its own.
 * Nothing is written again where a record was.
 */
const CHUNK = 8192
let chunk = new Uint8Array(CHUNK)
let used = 0
export function decodeAllocation (bytes: Uint8Array): Allocation<Uint8Array> {
  const a = arr(unpack(bytes, 'allocation')[0], 'allocation', 3)
  if (!(a[2] instanceof Uint8Array)) fail('allocation.payload', 'expected bytes')
  return { key: str(a[0], 'allocation.key'), offset: big(a[1], 'allocation.offset') as Offset, payload: a[2] }
}
/** An allocation record of the shape written before allocations carried a payload: key and offset. */
export function decodeBareAllocation (bytes: Uint8Array): { readonly key: string, readonly offset: Offset } {
  const a = arr(unpack(bytes, 'allocation')[0], 'allocation', 2)
  return { key: str(a[0], 'allocation.key'), offset: big(a[1], 'allocation.offset') as Offset }
}

export function encodeAcceptorRecord (r: AcceptorRecord): Uint8Array {
  return pack([r.key, r.promised === null ? null : ballotToWire(r.promised), acceptedToWire(r.accepted)])
}
export function decodeAcceptorRecord (bytes: Uint8Array): AcceptorRecord {
  const a = arr(unpack(bytes, 'acceptor')[0], 'acceptor', 3)
  return { key: str(a[0], 'acceptor.key'), promised: optBallot(a[1], 'acceptor.promised'), accepted: acceptedFromWire(a[2], 'acceptor.accepted') }
}
