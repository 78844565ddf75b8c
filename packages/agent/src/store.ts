/**
 * The node's durable state in LevelDB: the ring, every allocation with its attachment metadata,
 * acceptor records, and meta (schema, universe). Each core Ready's PersistDelta is one atomic batch
 * written with sync, so an acknowledged allocation survives kill -9 and power loss.
 */
import { join } from 'node:path'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import {
  decodeAcceptorRecord, decodeAllocation, decodeRingState, encodeAcceptorRecord, encodeAllocation, encodeRingState
} from '@weft/ring'
import type { AcceptorRecord, Allocation, Cidr, Offset, PersistDelta, PersistedPeer, RingState } from '@weft/ring'
import { StoreError } from './errors.ts'

export const SCHEMA_VERSION = 1

/** What the agent knows about an allocation beyond the core's (key, offset). */
export interface AttachmentMeta {
  readonly containerId: string
  readonly ifname: string
  readonly podNamespace?: string
  readonly podName?: string
  /** Milliseconds since the epoch. */
  readonly allocatedAt: number
}

export interface StoredAllocation extends AttachmentMeta {
  readonly offset: Offset
}

type Db = Level<string, Uint8Array>

const KEY_SCHEMA = 'meta:schema'
const KEY_UNIVERSE = 'meta:universe'
const KEY_RING = 'ring'
const ALLOC = 'alloc:'
const ATTACH = 'attach:'
const ACCEPTOR = 'acceptor:'
const KEY_NODES_SEEN = 'reclaim:nodes-seen'

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export class Store {
  readonly #db: Db
  readonly #allocations = new Map<string, StoredAllocation>()

  private constructor (db: Db) {
    this.#db = db
  }

  /**
   * Opens (or creates) the store under `dataDir` for `universe`. A store made for another range,
   * or by a newer schema, refuses to open; nothing is ever wiped.
   */
  static async open (dataDir: string, universe: Cidr): Promise<Store> {
    const location = join(dataDir, 'db')
    const db: Db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED') throw new StoreError(`the store ${location} is in use by another process (is an agent already running with this data dir?)`)
      throw new StoreError(`cannot open the store ${location}: ${(err as Error).message}${cause === undefined ? '' : ` (${String(cause)})`}`)
    }
    try {
      await checkMeta(db, location, universe)
    } catch (err) {
      await db.close()
      throw err
    }
    return new Store(db)
  }

  /** Every allocation as written: loaded by `load`, kept current by `commit`. */
  get allocations (): ReadonlyMap<string, StoredAllocation> {
    return this.#allocations
  }

  /** Reads everything back; undefined for a fresh data directory. */
  async load (): Promise<PersistedPeer | undefined> {
    const ringBytes = await this.#db.get(KEY_RING)
    const allocations: Allocation[] = []
    for await (const [key, value] of this.#db.iterator({ gte: ALLOC, lt: next(ALLOC) })) {
      const a = decoded(key, () => decodeAllocation(value))
      if (a.key !== key.slice(ALLOC.length)) throw new StoreError(`corrupt value at key "${key}": holds the allocation of "${a.key}"`)
      allocations.push(a)
    }
    const meta = new Map<string, AttachmentMeta>()
    for await (const [key, value] of this.#db.iterator({ gte: ATTACH, lt: next(ATTACH) })) {
      meta.set(key.slice(ATTACH.length), decoded(key, () => decodeMeta(value)))
    }
    const acceptor: AcceptorRecord[] = []
    for await (const [key, value] of this.#db.iterator({ gte: ACCEPTOR, lt: next(ACCEPTOR) })) {
      acceptor.push(decoded(key, () => decodeAcceptorRecord(value)))
    }
    if (ringBytes === undefined) {
      if (allocations.length > 0 || acceptor.length > 0) {
        throw new StoreError(`the store holds ${allocations.length} allocations and ${acceptor.length} acceptor records but no ring (key "${KEY_RING}" is missing)`)
      }
      return undefined
    }
    const ring: RingState = decoded(KEY_RING, () => decodeRingState(ringBytes))
    this.#allocations.clear()
    for (const a of allocations) {
      const m = meta.get(a.key)
      if (m === undefined) throw new StoreError(`corrupt store: key "${ATTACH}${a.key}" is missing for allocation "${ALLOC}${a.key}"`)
      this.#allocations.set(a.key, { ...m, offset: a.offset })
    }
    return { ring, allocations, acceptor }
  }

  /**
   * Writes one Ready's delta as one atomic, synced batch. `meta` supplies the attachment metadata
   * of every put allocation; deleted allocations lose theirs in the same batch.
   */
  async commit (delta: PersistDelta, meta: (key: string) => AttachmentMeta): Promise<void> {
    const ops: Array<{ type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }> = []
    if (delta.ring !== undefined) ops.push({ type: 'put', key: KEY_RING, value: encodeRingState(delta.ring) })
    for (const r of delta.acceptor ?? []) ops.push({ type: 'put', key: ACCEPTOR + r.key, value: encodeAcceptorRecord(r) })
    for (const key of delta.deleteAllocations) {
      ops.push({ type: 'del', key: ALLOC + key }, { type: 'del', key: ATTACH + key })
    }
    const metas = delta.putAllocations.map(a => meta(a.key))
    delta.putAllocations.forEach((a, i) => {
      ops.push({ type: 'put', key: ALLOC + a.key, value: encodeAllocation(a) })
      ops.push({ type: 'put', key: ATTACH + a.key, value: encodeMeta(metas[i]!) })
    })
    if (ops.length === 0) return
    await this.#db.batch(ops, { sync: true })
    for (const key of delta.deleteAllocations) this.#allocations.delete(key)
    delta.putAllocations.forEach((a, i) => this.#allocations.set(a.key, { ...metas[i]!, offset: a.offset }))
  }

  /** The Kubernetes node names reclaim has seen listed (empty if none yet). */
  async loadNodesSeen (): Promise<string[]> {
    const bytes = await this.#db.get(KEY_NODES_SEEN)
    if (bytes === undefined) return []
    return decoded(KEY_NODES_SEEN, () => {
      const v: unknown = packr.unpack(bytes)
      if (!Array.isArray(v) || !v.every(n => typeof n === 'string')) throw new Error('expected a list of node names')
      return v as string[]
    })
  }

  async saveNodesSeen (names: readonly string[]): Promise<void> {
    await this.#db.put(KEY_NODES_SEEN, packr.pack(names), { sync: true })
  }

  async close (): Promise<void> {
    await this.#db.close()
  }
}

async function checkMeta (db: Db, location: string, universe: Cidr): Promise<void> {
  const [schemaBytes, universeBytes] = await db.getMany([KEY_SCHEMA, KEY_UNIVERSE])
  if (schemaBytes === undefined && universeBytes === undefined) {
    const empty = await db.keys({ limit: 1 }).all()
    if (empty.length > 0) throw new StoreError(`the store ${location} holds data but no "${KEY_SCHEMA}": not a weft store`)
    await db.batch([
      { type: 'put', key: KEY_SCHEMA, value: packr.pack(SCHEMA_VERSION) },
      { type: 'put', key: KEY_UNIVERSE, value: packr.pack(universe) }
    ], { sync: true })
    return
  }
  const schema = decoded(KEY_SCHEMA, () => unpackAs(schemaBytes, 'number'))
  if (schema !== SCHEMA_VERSION) throw new StoreError(`the store ${location} has schema ${String(schema)}; this agent reads schema ${SCHEMA_VERSION}`)
  const stored = decoded(KEY_UNIVERSE, () => unpackAs(universeBytes, 'string'))
  if (stored !== universe) {
    throw new StoreError(`the store ${location} was made for the range ${String(stored)}, but IPALLOC_RANGE is ${universe}; use the old range, or another data dir for the new one (nothing was changed)`)
  }
}

function unpackAs (bytes: Uint8Array | undefined, type: 'number' | 'string'): unknown {
  if (bytes === undefined) throw new Error('missing')
  const v: unknown = packr.unpack(bytes)
  if (typeof v !== type) throw new Error(`expected a ${type}`)
  return v
}

/** Runs a decoder; any failure becomes a StoreError naming the key. */
function decoded<T> (key: string, decode: () => T): T {
  try {
    return decode()
  } catch (err) {
    throw new StoreError(`corrupt value at key "${key}": ${(err as Error).message}`)
  }
}

function encodeMeta (m: AttachmentMeta): Uint8Array {
  return packr.pack([m.containerId, m.ifname, m.podNamespace ?? null, m.podName ?? null, m.allocatedAt])
}

function decodeMeta (bytes: Uint8Array): AttachmentMeta {
  const v: unknown = packr.unpack(bytes)
  if (!Array.isArray(v) || v.length !== 5) throw new Error('expected 5 fields')
  const [containerId, ifname, podNamespace, podName, allocatedAt] = v as unknown[]
  if (typeof containerId !== 'string' || typeof ifname !== 'string') throw new Error('containerId and ifname must be strings')
  if (typeof allocatedAt !== 'number') throw new Error('allocatedAt must be a number')
  const optional = (x: unknown, name: string): string | undefined => {
    if (x === null) return undefined
    if (typeof x !== 'string') throw new Error(`${name} must be a string or null`)
    return x
  }
  const ns = optional(podNamespace, 'podNamespace')
  const pod = optional(podName, 'podName')
  return { containerId, ifname, allocatedAt, ...(ns === undefined ? {} : { podNamespace: ns }), ...(pod === undefined ? {} : { podName: pod }) }
}

/** The first string after every string that starts with `prefix`. */
function next (prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}
