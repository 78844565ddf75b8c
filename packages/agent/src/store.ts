/**
 * The node's durable state in LevelDB, per pool: the ring, one record per allocation holding its
 * address and attachment metadata (keyed by network/containerId/ifname), acceptor records; and meta
 * (schema, the pools' ranges, the retired pools). Each core Ready's PersistDelta is one atomic batch
 * (a journal record, or a LevelDB batch), synced or not by what it holds (`durabilityOf`).
 *
 * The durability rule. What another peer relies on is synced (fsync before the batch is acknowledged
 * or gossiped): the ring (tokens, donations, takeovers, removals) and Paxos acceptor records; a host
 * that lost them after a power cut could hand out space it gave away, or break a decided vote. A batch
 * of allocation puts and deletes only is written to the kernel (the pool's journal, one write() per
 * batch on the agent's own thread, store-journal.ts; folded into LevelDB in the background) without an fsync: it
 * outlives the agent process (kill -9, a crash, an OOM kill: the page cache still has it), and only a
 * host crash can lose it, which also ends every pod that address belonged to. The lost addresses are
 * then free in this peer's own ranges, which no other peer uses. A later synced batch makes every
 * earlier one durable too (it carries what the journal holds, in order). The disk's fsync is what an
 * allocation would otherwise wait on: about 0.2 ms on an idle disk, 10 ms and more at p99 when the
 * disk is shared (bench/main.ts prints it). The store's own records (schema, pools, retirements,
 * migration, reclaim's node names) are synced.
 */
import { join } from 'node:path'
import { Level } from 'level'
import type { ChainedBatch } from 'level'
import { decodeAcceptorRecord, decodeRingState, encodeAcceptorRecord, encodeRingState } from '@weft/ring'
import type { AcceptorRecord, Cidr, PersistDelta, PersistedPeer, RingState } from '@weft/ring'
import { DEFAULT_POOL } from '@weft/protocol'
import { StoreError } from './errors.ts'
import { migrate } from './store-migrate.ts'
import { FOLD_AFTER, Journal } from './store-journal.ts'
import {
  ACCEPTOR, ALLOC, decodeAllocationRecord, decoded, encodeAllocationRecord, KEY_JOURNAL, KEY_NODES_SEEN, KEY_POOLS, KEY_RETIRED, KEY_RING,
  KEY_SCHEMA, KEY_UNIVERSE, next, packr, poolPrefix, SCHEMA_VERSION
} from './store-layout.ts'
import type { AttachmentMeta, BatchOp, StoredAllocation } from './store-layout.ts'

export type { AttachmentMeta, StoredAllocation } from './store-layout.ts'

type Db = Level<string, Uint8Array>
/**
 * A LevelDB batch built op by op: each op goes into LevelDB's native write batch as it is added, so
 * writing it is one call, with nothing left to convert on the agent's thread.
 */
type Batch = ChainedBatch<Db, string, Uint8Array>

interface Migrated { readonly from: number, readonly allocations: number }

/** How a batch is written: `synced` waits for the disk, `written` for the kernel, `empty` writes nothing. */
export type Durability = 'synced' | 'written' | 'empty'

/** The durability rule (see above): ring or acceptor changes are synced, allocations alone are not. */
export function durabilityOf (delta: PersistDelta<unknown>): Durability {
  if (delta.ring !== undefined || (delta.acceptor?.length ?? 0) > 0) return 'synced'
  return delta.putAllocations.length + delta.deleteAllocations.length > 0 ? 'written' : 'empty'
}

/**
 * One pool's part of the store: its ring, one record per allocation, and acceptor records, under
 * the pool's key prefix (store-layout.ts).
 */
export class PoolStore {
  readonly pool: string
  readonly #db: Db
  readonly #p: string
  readonly #journalPath: string
  readonly #sealedPath: string
  /** What is durable: the same records the core holds, put here once their batch is written. */
  readonly #allocations = new Map<string, StoredAllocation>()
  #journal: Journal | null = null
  /**
   * What the current journal file's records add up to, as the LevelDB batch a fold writes, in order
   * (the records as the journal encoded them), added to as each record is journalled: a fold neither
   * reads the file back nor encodes again, and hands LevelDB a batch already built. An array of
   * operations, converted by LevelDB's binding on this thread as the batch was written, held up the
   * request a fold fell beside by 0.8-1.5 ms (256 records). Null until the first record after a fold.
   */
  #unfolded: Batch | null = null
  /** Records in the current journal file. */
  #records = 0
  /** The fold of the sealed journal file, under way; null when there is none. */
  #folding: Promise<void> | null = null
  /** Why a fold in the background failed: every later commit throws it (the agent must stop). */
  #foldFailed: Error | null = null
  /** The sequence number of the last batch, journalled or written to LevelDB. */
  #seq = 0

  constructor (db: Db, pool: string, dataDir: string) {
    this.#db = db
    this.pool = pool
    this.#p = poolPrefix(pool)
    this.#journalPath = join(dataDir, `journal-${pool}.log`)
    this.#sealedPath = join(dataDir, `journal-${pool}.sealed.log`)
  }

  /** Every allocation as written: loaded by `load`, kept current by `commit`. */
  get allocations (): ReadonlyMap<string, StoredAllocation> {
    return this.#allocations
  }

  /** Reads everything back; undefined for a pool this store has nothing of. */
  async load (): Promise<PersistedPeer<AttachmentMeta> | undefined> {
    await this.#openJournal()
    if (this.#records > 0) await this.#fold(true)
    const p = this.#p
    const ringBytes = await this.#db.get(p + KEY_RING)
    const allocations: StoredAllocation[] = []
    for await (const [key, value] of this.#db.iterator({ gte: p + ALLOC, lt: next(p + ALLOC) })) {
      allocations.push(decoded(key, () => decodeAllocationRecord(key.slice(p.length + ALLOC.length), value)))
    }
    const acceptor: AcceptorRecord[] = []
    for await (const [key, value] of this.#db.iterator({ gte: p + ACCEPTOR, lt: next(p + ACCEPTOR) })) {
      acceptor.push(decoded(key, () => decodeAcceptorRecord(value)))
    }
    if (ringBytes === undefined) {
      if (allocations.length > 0 || acceptor.length > 0) {
        throw new StoreError(`the store holds ${allocations.length} allocations and ${acceptor.length} acceptor records of pool ${this.pool} but no ring (key "${p + KEY_RING}" is missing)`)
      }
      return undefined
    }
    const ring: RingState = decoded(p + KEY_RING, () => decodeRingState(ringBytes))
    this.#allocations.clear()
    for (const a of allocations) this.#allocations.set(a.key, a)
    return { ring, allocations, acceptor }
  }

  /**
   * Writes one Ready's delta, each allocation with its metadata in one record: allocations alone as
   * one journal record, anything else as one atomic LevelDB batch synced by `durabilityOf`, which
   * it returns. The journal's path, once the journal is open, is synchronous: the batch is written
   * when this returns 'written', no promise (a promise per batch, and the steps after it, were
   * garbage on every allocation's path). A failure is always a rejection.
   */
  commit (delta: PersistDelta<AttachmentMeta>): Durability | Promise<Durability> {
    if (this.#foldFailed !== null || this.#journal === null || durabilityOf(delta) !== 'written') return this.#commitBatch(delta)
    try {
      this.#journalled(delta)
    } catch (err) {
      return Promise.reject(err)
    }
    return 'written'
  }

  async #commitBatch (delta: PersistDelta<AttachmentMeta>): Promise<Durability> {
    if (this.#foldFailed !== null) throw this.#foldFailed
    const durability = durabilityOf(delta)
    if (durability === 'empty') return durability
    if (this.#journal === null) await this.#openJournal()
    if (durability === 'written') {
      this.#journalled(delta)
      return durability
    }
    // Anything else goes to LevelDB with everything the journal holds before it.
    await this.#settle()
    const p = this.#p
    const batch = this.#pending()
    if (delta.ring !== undefined) batch.put(p + KEY_RING, encodeRingState(delta.ring))
    for (const r of delta.acceptor ?? []) batch.put(p + ACCEPTOR + r.key, encodeAcceptorRecord(r))
    allocationOps(batch, p, delta.deleteAllocations, delta.putAllocations, delta.putAllocations.map(encodeAllocationRecord))
    ++this.#seq
    await this.#fold(durability === 'synced')
    this.#applied(delta)
    return durability
  }

  /** The batch the current journal file's records add up to, begun if none is. */
  #pending (): Batch {
    return (this.#unfolded ??= this.#db.batch())
  }

  /** Allocations alone: one journal record (one write(), on this thread), kept for the next fold. */
  #journalled (delta: PersistDelta<AttachmentMeta>): void {
    const records = this.#journal!.append(++this.#seq, delta.deleteAllocations, delta.putAllocations)
    allocationOps(this.#pending(), this.#p, delta.deleteAllocations, delta.putAllocations, records)
    if (++this.#records >= FOLD_AFTER) this.#folding ??= this.#foldSealed()
    this.#applied(delta)
  }

  /** The store's view of what is durable takes in a written batch. */
  #applied (delta: PersistDelta<AttachmentMeta>): void {
    // Indexed, not for-of: no iterator objects on every batch's path.
    for (let i = 0; i < delta.deleteAllocations.length; i++) this.#allocations.delete(delta.deleteAllocations[i]!)
    for (let i = 0; i < delta.putAllocations.length; i++) this.#allocations.set(delta.putAllocations[i]!.key, delta.putAllocations[i]!)
  }

  /** Folds the journal into LevelDB and closes it: the store then holds everything in LevelDB alone. */
  async close (): Promise<void> {
    const journal = this.#journal
    if (journal === null) return
    await this.#settle()
    if (this.#records > 0) await this.#fold(false)
    journal.close()
    this.#journal = null
  }

  /** For a retired pool: folds what the journal holds, then deletes it. */
  async removeJournal (): Promise<void> {
    await this.#openJournal()
    await this.#settle()
    if (this.#records > 0) await this.#fold(false)
    await this.#journal!.remove()
    this.#journal = null
  }

  /**
   * Opens the journal once. What it holds past the last folded record (the agent died without
   * folding it) goes into LevelDB at once, in order, synced, before anything else is read or written.
   */
  async #openJournal (): Promise<void> {
    if (this.#journal !== null) return
    const folded = await this.#db.get(this.#p + KEY_JOURNAL)
    const applied = folded === undefined ? 0 : decoded(this.#p + KEY_JOURNAL, () => unpackAs(folded, 'number') as number)
    const { journal, records, size } = await Journal.open(this.#journalPath, this.#sealedPath)
    this.#seq = Math.max(applied, records.at(-1)?.seq ?? 0)
    try {
      // Emptied even when it held only a record cut short: the next one must not follow its bytes.
      if (size > 0) {
        const replay = this.#db.batch()
        for (const r of records) if (r.seq > applied) allocationOps(replay, this.#p, r.deleted, r.put.map(([key]) => ({ key })), r.put.map(([, value]) => value))
        replay.put(this.#p + KEY_JOURNAL, packr.pack(this.#seq))
        await replay.write({ sync: true })
        journal.truncate()
        await journal.dropSealed()
      }
    } catch (err) {
      journal.close()
      throw err
    }
    this.#journal = journal
  }

  /**
   * Seals the journal file and folds it into LevelDB in one batch, after the turn that filled it
   * (so the batch that did is answered first), while allocations go on into a fresh file. Unsynced,
   * like the records it holds. Runs one at a time; a failure stops every later commit (it never rejects).
   */
  async #foldSealed (): Promise<void> {
    await new Promise(resolve => setImmediate(resolve))
    const journal = this.#journal!
    try {
      // What the sealed file holds, taken as the fresh file takes over (batches journalled while the
      // seal ran went to the sealed file).
      const { batch, sealed } = await journal.seal(() => {
        const taken = { batch: this.#pending(), sealed: this.#seq }
        this.#unfolded = null
        this.#records = 0
        return taken
      })
      batch.put(this.#p + KEY_JOURNAL, packr.pack(sealed))
      await batch.write({ sync: false })
      await journal.dropSealed()
    } catch (err) {
      // The sealed file stays for the next start to fold; nothing more is written meanwhile.
      this.#foldFailed = new StoreError(`folding the allocation journal ${journal.sealedPath} into the store failed: ${(err as Error).message}`)
      return
    } finally {
      this.#folding = null
    }
    // Filled again while this one ran (many batches a second): the next one starts at once.
    if (this.#records >= FOLD_AFTER) this.#folding = this.#foldSealed()
  }

  /** Waits until no sealed file is being folded; throws if a fold failed. */
  async #settle (): Promise<void> {
    while (this.#folding !== null) await this.#folding
    if (this.#foldFailed !== null) throw this.#foldFailed
  }

  /**
   * Writes the pending batch as one: what the current journal file's records add up to, then what
   * the caller added after them, then the sequence number they reach; then the file is emptied.
   */
  async #fold (sync: boolean): Promise<void> {
    const batch = this.#pending()
    batch.put(this.#p + KEY_JOURNAL, packr.pack(this.#seq))
    this.#unfolded = null
    this.#records = 0
    await batch.write({ sync })
    this.#journal!.truncate()
  }
}

/**
 * Adds to `batch` the LevelDB operations of one batch's allocation changes under `prefix`: its
 * deletes, then its puts (each key with its encoded record, `values` in the same order; no list of
 * pairs is made on the journal's path).
 */
function allocationOps (batch: Batch, prefix: string, deleted: readonly string[], put: ReadonlyArray<{ readonly key: string }>, values: readonly Uint8Array[]): void {
  for (let i = 0; i < deleted.length; i++) batch.del(prefix + ALLOC + deleted[i]!)
  for (let i = 0; i < put.length; i++) batch.put(prefix + ALLOC + put[i]!.key, values[i]!)
}

/** The node's store: one LevelDB, a part per pool, and what belongs to the node (the Node names reclaim saw). */
export class Store {
  readonly #db: Db
  readonly #pools: Map<string, PoolStore>
  readonly #stored: Record<string, Cidr>
  readonly #retired: Set<string>
  /** The older schema this store was migrated from when it was opened, and how many allocations moved; null if none. */
  readonly migrated: Migrated | null
  /** Pools the store holds that the configuration does not name: kept as they are, served by nobody here. */
  readonly unconfigured: ReadonlyMap<string, Cidr>

  private constructor (db: Db, dataDir: string, stored: Record<string, Cidr>, retired: readonly string[], migrated: Migrated | null, unconfigured: ReadonlyMap<string, Cidr>) {
    this.#db = db
    this.#stored = stored
    this.#retired = new Set(retired)
    this.#pools = new Map(Object.keys(stored).filter(name => !unconfigured.has(name)).map(name => [name, new PoolStore(db, name, dataDir)]))
    this.migrated = migrated
    this.unconfigured = unconfigured
  }

  /**
   * Opens (or creates) the store under `dataDir` for `pools` (name -> range). A store that holds a
   * pool of another range, or was made by a newer schema, refuses to open; nothing is ever wiped.
   * An older schema's store is migrated in place (a schema-1 store's allocations are given to
   * `legacyNetwork`: schema 1 had no networks); a store from before pools holds pool `default`.
   */
  static async open (dataDir: string, pools: Readonly<Record<string, Cidr>>, legacyNetwork: string): Promise<Store> {
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
      const { schema, stored, retired } = await readMeta(db, location, pools)
      // A retired pool is never served again, whatever the configuration says (the agent warns).
      const live = Object.fromEntries(Object.entries(pools).filter(([name]) => !retired.includes(name)))
      const all = { ...stored, ...live }
      const finish = metaOps(all, retired)
      let migrated: Migrated | null = null
      if (schema === 1 || schema === 2) migrated = { from: schema, allocations: await migrate(db, schema, legacyNetwork, finish) }
      else if (schema !== SCHEMA_VERSION || Object.keys(all).length !== Object.keys(stored).length) await db.batch(finish, { sync: true })
      const unconfigured = new Map(Object.entries(stored).filter(([name]) => pools[name] === undefined))
      return new Store(db, dataDir, all, retired, migrated, unconfigured)
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /** Pools retired (`weft pool retire`): their state is gone from this store, and they are never served again. */
  get retired (): ReadonlySet<string> {
    return this.#retired
  }

  /**
   * Retires a pool: every key of its part goes, and it is recorded as retired, in one synced batch.
   * Idempotent. The pool's Ready loop must be idle (nothing more to commit).
   */
  async retirePool (name: string): Promise<void> {
    if (this.#retired.has(name)) return
    await this.#pools.get(name)?.removeJournal()
    const p = poolPrefix(name)
    const ops: BatchOp[] = []
    for (const sub of [ALLOC, ACCEPTOR]) {
      for await (const key of this.#db.keys({ gte: p + sub, lt: next(p + sub) })) ops.push({ type: 'del', key })
    }
    ops.push({ type: 'del', key: p + KEY_RING }, { type: 'del', key: p + KEY_JOURNAL })
    const { [name]: _gone, ...rest } = this.#stored
    ops.push(...metaOps(rest, [...this.#retired, name]))
    await this.#db.batch(ops, { sync: true })
    delete this.#stored[name]
    this.#retired.add(name)
    this.#pools.delete(name)
  }

  /** The part of a configured pool. */
  pool (name: string): PoolStore {
    const p = this.#pools.get(name)
    if (p === undefined) throw new Error(`the store was not opened for pool ${JSON.stringify(name)}`)
    return p
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
    try {
      for (const pool of this.#pools.values()) await pool.close()
    } finally {
      await this.#db.close()
    }
  }
}

/** The schema, the pools' ranges and the retired pools the store holds; refuses a pool configured with another range. A fresh store holds nothing. */
async function readMeta (db: Db, location: string, pools: Readonly<Record<string, Cidr>>): Promise<{ schema: number, stored: Record<string, Cidr>, retired: string[] }> {
  const [schemaBytes, universeBytes, poolsBytes, retiredBytes] = await db.getMany([KEY_SCHEMA, KEY_UNIVERSE, KEY_POOLS, KEY_RETIRED])
  if (schemaBytes === undefined && universeBytes === undefined && poolsBytes === undefined) {
    const empty = await db.keys({ limit: 1 }).all()
    if (empty.length > 0) throw new StoreError(`the store ${location} holds data but no "${KEY_SCHEMA}": not a weft store`)
    return { schema: 0, stored: {}, retired: [] }
  }
  const schema = decoded(KEY_SCHEMA, () => unpackAs(schemaBytes, 'number'))
  if (!Number.isSafeInteger(schema) || (schema as number) < 1 || (schema as number) > SCHEMA_VERSION) {
    throw new StoreError(`the store ${location} has schema ${String(schema)}; this agent reads schemas 1 to ${SCHEMA_VERSION}`)
  }
  // Pools came with schema 4.
  const stored: Record<string, Cidr> = (schema as number) >= 4
    ? decoded(KEY_POOLS, () => decodePools(poolsBytes))
    : { [DEFAULT_POOL]: decoded(KEY_UNIVERSE, () => unpackAs(universeBytes, 'string')) as Cidr }
  for (const [name, range] of Object.entries(pools)) {
    const had = stored[name]
    if (had === undefined || had === range) continue
    const where = name === DEFAULT_POOL ? `IPALLOC_RANGE is ${range}` : `the configuration gives ${range}`
    throw new StoreError(`the store ${location} was made for the range ${had} of pool ${name}, but ${where}; use the old range, or another data dir for the new one (nothing was changed)`)
  }
  const retired = retiredBytes === undefined ? [] : decoded(KEY_RETIRED, () => decodeNames(retiredBytes))
  return { schema: schema as number, stored, retired }
}

/** The meta keys of the current schema for `pools` and the `retired` ones. */
function metaOps (pools: Readonly<Record<string, Cidr>>, retired: readonly string[]): BatchOp[] {
  return [
    { type: 'put', key: KEY_SCHEMA, value: packr.pack(SCHEMA_VERSION) },
    { type: 'put', key: KEY_POOLS, value: packr.pack(pools) },
    retired.length === 0 ? { type: 'del', key: KEY_RETIRED } : { type: 'put', key: KEY_RETIRED, value: packr.pack(retired) },
    { type: 'del', key: KEY_UNIVERSE }
  ]
}

function decodePools (bytes: Uint8Array | undefined): Record<string, Cidr> {
  if (bytes === undefined) throw new Error('missing')
  const v: unknown = packr.unpack(bytes)
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every(r => typeof r === 'string')) throw new Error('expected pool names and ranges')
  return v as Record<string, Cidr>
}

function decodeNames (bytes: Uint8Array): string[] {
  const v: unknown = packr.unpack(bytes)
  if (!Array.isArray(v) || !v.every(n => typeof n === 'string')) throw new Error('expected a list of pool names')
  return v as string[]
}

function unpackAs (bytes: Uint8Array | undefined, type: 'number' | 'string'): unknown {
  if (bytes === undefined) throw new Error('missing')
  const v: unknown = packr.unpack(bytes)
  if (typeof v !== type) throw new Error(`expected a ${type}`)
  return v
}
