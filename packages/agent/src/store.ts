/**
 * The node's durable state in LevelDB: the ring, every allocation with its attachment metadata
 * (keyed by network/containerId/ifname), acceptor records, and meta (schema, universe). Each core
 * Ready's PersistDelta is one atomic batch, synced or not by what it holds (`durabilityOf`).
 *
 * The durability rule. What another peer relies on is synced (fsync before the batch is acknowledged
 * or gossiped): the ring (tokens, donations, takeovers, removals) and Paxos acceptor records; a host
 * that lost them after a power cut could hand out space it gave away, or break a decided vote. A batch
 * of allocation puts and deletes only is written to the kernel (LevelDB's log, one write() per batch)
 * without an fsync: it outlives the agent process (kill -9, a crash, an OOM kill: the page cache still
 * has it), and only a host crash can lose it, which also ends every pod that address belonged to. The
 * lost addresses are then free in this peer's own ranges, which no other peer uses. A later synced
 * batch makes every earlier one durable too (one log, written in order). The disk's fsync is what
 * an allocation would otherwise wait on: about 0.2 ms on an idle disk, 10 ms and more at p99 when the
 * disk is shared (bench/main.ts prints it).
 */
import { join } from 'node:path'
import { Level } from 'level'
import {
  decodeAcceptorRecord, decodeAllocation, decodeRingState, encodeAcceptorRecord, encodeAllocation, encodeRingState
} from '@weft/ring'
import type { AcceptorRecord, Allocation, Cidr, PersistDelta, PersistedPeer, RingState } from '@weft/ring'
import { StoreError } from './errors.ts'
import { migrateFromSchema1 } from './store-migrate.ts'
import {
  ACCEPTOR, ALLOC, ATTACH, decodeMeta, decoded, encodeMeta, KEY_NODES_SEEN, KEY_RING, KEY_SCHEMA, KEY_UNIVERSE, next, packr,
  SCHEMA_VERSION
} from './store-layout.ts'
import type { AttachmentMeta, BatchOp, StoredAllocation } from './store-layout.ts'

export type { AttachmentMeta, StoredAllocation } from './store-layout.ts'

type Db = Level<string, Uint8Array>

/** How a batch is written: `synced` waits for the disk, `written` for the kernel, `empty` writes nothing. */
export type Durability = 'synced' | 'written' | 'empty'

/** The durability rule (see above): ring or acceptor changes are synced, allocations alone are not. */
export function durabilityOf (delta: PersistDelta): Durability {
  if (delta.ring !== undefined || (delta.acceptor?.length ?? 0) > 0) return 'synced'
  return delta.putAllocations.length + delta.deleteAllocations.length > 0 ? 'written' : 'empty'
}

export class Store {
  readonly #db: Db
  readonly #allocations = new Map<string, StoredAllocation>()
  /** Allocations moved from an older schema's keys when this store was opened. */
  readonly migrated: number

  private constructor (db: Db, migrated: number) {
    this.#db = db
    this.migrated = migrated
  }

  /**
   * Opens (or creates) the store under `dataDir` for `universe`. A store made for another range,
   * or by a newer schema, refuses to open; nothing is ever wiped. A schema-1 store is migrated in
   * place, its allocations given to `legacyNetwork` (schema 1 had no networks).
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
      return new Store(db, schema === 1 ? await migrateFromSchema1(db, legacyNetwork) : 0)
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
   * Writes one Ready's delta as one atomic batch, synced by `durabilityOf`, which it returns. `meta`
   * supplies the attachment metadata of every put allocation; deleted allocations lose theirs in the
   * same batch.
   */
  async commit (delta: PersistDelta, meta: (key: string) => AttachmentMeta): Promise<Durability> {
    const ops: BatchOp[] = []
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
    const durability = durabilityOf(delta)
    if (durability === 'empty') return durability
    await this.#db.batch(ops, { sync: durability === 'synced' })
    for (const key of delta.deleteAllocations) this.#allocations.delete(key)
    delta.putAllocations.forEach((a, i) => this.#allocations.set(a.key, { ...metas[i]!, offset: a.offset }))
    return durability
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
  if (schema !== SCHEMA_VERSION && schema !== 1) throw new StoreError(`the store ${location} has schema ${String(schema)}; this agent reads schemas 1 and ${SCHEMA_VERSION}`)
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
