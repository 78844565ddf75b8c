/**
 * The node's durable state in LevelDB: the ring, one record per allocation holding its address and
 * attachment metadata (keyed by network/containerId/ifname), acceptor records, and meta (schema,
 * universe). Each core Ready's PersistDelta is one atomic batch written with sync, so an acknowledged
 * allocation survives kill -9 and power loss.
 */
import { join } from 'node:path'
import { Level } from 'level'
import { decodeAcceptorRecord, decodeRingState, encodeAcceptorRecord, encodeRingState } from '@weft/ring'
import type { AcceptorRecord, Cidr, PersistDelta, PersistedPeer, RingState } from '@weft/ring'
import { StoreError } from './errors.ts'
import { migrate } from './store-migrate.ts'
import {
  ACCEPTOR, ALLOC, decodeAllocationRecord, decoded, encodeAllocationRecord, KEY_NODES_SEEN, KEY_RING, KEY_SCHEMA, KEY_UNIVERSE,
  next, packr, SCHEMA_VERSION
} from './store-layout.ts'
import type { AttachmentMeta, BatchOp, StoredAllocation } from './store-layout.ts'

export type { AttachmentMeta, StoredAllocation } from './store-layout.ts'

type Db = Level<string, Uint8Array>

interface Migrated { readonly from: number, readonly allocations: number }

export class Store {
  readonly #db: Db
  /** What is durable: the same records the core holds, put here once their batch is written. */
  readonly #allocations = new Map<string, StoredAllocation>()
  /** The older schema this store was migrated from when it was opened, and how many allocations moved; null if none. */
  readonly migrated: Migrated | null

  private constructor (db: Db, migrated: Migrated | null) {
    this.#db = db
    this.migrated = migrated
  }

  /**
   * Opens (or creates) the store under `dataDir` for `universe`. A store made for another range,
   * or by a newer schema, refuses to open; nothing is ever wiped. An older schema's store is migrated
   * in place; a schema-1 store's allocations are given to `legacyNetwork` (schema 1 had no networks).
   */
  static async open (dataDir: string, universe: Cidr, legacyNetwork: string): Promise<Store> {
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
      const schema = await checkMeta(db, location, universe)
      if (schema === SCHEMA_VERSION) return new Store(db, null)
      return new Store(db, { from: schema, allocations: await migrate(db, schema, legacyNetwork) })
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /** Every allocation as written: loaded by `load`, kept current by `commit`. */
  get allocations (): ReadonlyMap<string, StoredAllocation> {
    return this.#allocations
  }

  /** Reads everything back; undefined for a fresh data directory. */
  async load (): Promise<PersistedPeer<AttachmentMeta> | undefined> {
    const ringBytes = await this.#db.get(KEY_RING)
    const allocations: StoredAllocation[] = []
    for await (const [key, value] of this.#db.iterator({ gte: ALLOC, lt: next(ALLOC) })) {
      allocations.push(decoded(key, () => decodeAllocationRecord(key.slice(ALLOC.length), value)))
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
    for (const a of allocations) this.#allocations.set(a.key, a)
    return { ring, allocations, acceptor }
  }

  /** Writes one Ready's delta as one atomic, synced batch: each allocation with its metadata, in one record. */
  async commit (delta: PersistDelta<AttachmentMeta>): Promise<void> {
    const ops: BatchOp[] = []
    if (delta.ring !== undefined) ops.push({ type: 'put', key: KEY_RING, value: encodeRingState(delta.ring) })
    for (const r of delta.acceptor ?? []) ops.push({ type: 'put', key: ACCEPTOR + r.key, value: encodeAcceptorRecord(r) })
    for (const key of delta.deleteAllocations) ops.push({ type: 'del', key: ALLOC + key })
    for (const a of delta.putAllocations) ops.push({ type: 'put', key: ALLOC + a.key, value: encodeAllocationRecord(a) })
    if (ops.length === 0) return
    await this.#db.batch(ops, { sync: true })
    for (const key of delta.deleteAllocations) this.#allocations.delete(key)
    for (const a of delta.putAllocations) this.#allocations.set(a.key, a)
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

/** Checks the schema and the range; returns the schema (a fresh store is made at the current one). */
async function checkMeta (db: Db, location: string, universe: Cidr): Promise<number> {
  const [schemaBytes, universeBytes] = await db.getMany([KEY_SCHEMA, KEY_UNIVERSE])
  if (schemaBytes === undefined && universeBytes === undefined) {
    const empty = await db.keys({ limit: 1 }).all()
    if (empty.length > 0) throw new StoreError(`the store ${location} holds data but no "${KEY_SCHEMA}": not a weft store`)
    await db.batch([
      { type: 'put', key: KEY_SCHEMA, value: packr.pack(SCHEMA_VERSION) },
      { type: 'put', key: KEY_UNIVERSE, value: packr.pack(universe) }
    ], { sync: true })
    return SCHEMA_VERSION
  }
  const schema = decoded(KEY_SCHEMA, () => unpackAs(schemaBytes, 'number'))
  if (!Number.isSafeInteger(schema) || (schema as number) < 1 || (schema as number) > SCHEMA_VERSION) {
    throw new StoreError(`the store ${location} has schema ${String(schema)}; this agent reads schemas 1 to ${SCHEMA_VERSION}`)
  }
  const stored = decoded(KEY_UNIVERSE, () => unpackAs(universeBytes, 'string'))
  if (stored !== universe) {
    throw new StoreError(`the store ${location} was made for the range ${String(stored)}, but IPALLOC_RANGE is ${universe}; use the old range, or another data dir for the new one (nothing was changed)`)
  }
  return schema as number
}

function unpackAs (bytes: Uint8Array | undefined, type: 'number' | 'string'): unknown {
  if (bytes === undefined) throw new Error('missing')
  const v: unknown = packr.unpack(bytes)
  if (typeof v !== type) throw new Error(`expected a ${type}`)
  return v
}
