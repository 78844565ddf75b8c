/**
 * A pool's allocation journal: allocation-only batches appended to a plain file with one write() on
 * the agent's own thread, so an allocation waits for the kernel only, not for a hop to LevelDB's
 * worker thread and back (on a busy host that hop took over a millisecond for 3 to 12 % of batches).
 * Every FOLD_AFTER records the file is sealed: renamed aside (`sealedPath`) while appends go on in a
 * fresh one, and the sealed records are folded into LevelDB in the background (store.ts), then the
 * sealed file is deleted (the store folds what it wrote, kept as a LevelDB batch built as each record
 * is journalled, so nothing is read back). LevelDB records the last folded sequence number, so a record is applied
 * once, in order, whenever the agent dies: a start reads the sealed file (if one is left) and then the
 * current one, and applies what is past that number.
 *
 * A record: u32 length, u32 CRC-32 of the payload, payload (msgpack [seq, deleted keys, put keys,
 * put records]; keys are allocation keys, records as LevelDB holds them; store-journal-record.ts
 * writes it). Only the last record can be cut short (the process died inside its write, so it was
 * never acknowledged): it is dropped. Any other damage is a StoreError naming the file and offset.
 */
import { close, closeSync, ftruncateSync, open, openSync, writeSync } from 'node:fs'
import { readFile, rename, unlink } from 'node:fs/promises'
import { promisify } from 'node:util'
import { crc32 } from 'node:zlib'
import { StoreError } from './errors.ts'
import { encodeAllocationRecord, packr } from './store-layout.ts'
import { HEADER, RecordWriter } from './store-journal-record.ts'
import type { StoredAllocation } from './store-layout.ts'

// File descriptors, not FileHandles: the journal's appends are writeSync() on the descriptor.
const openFile = promisify(open)
const closeFile = promisify(close)

/**
 * Records between seals: each sealed file is folded into LevelDB as one batch, off the request path.
 * A fold's cost to the agent's thread is mostly fixed (measured: about the same for 32 records as for
 * 256), so folds are few.
 */
export const FOLD_AFTER = 256

/** One batch: the allocation keys it deleted, then the allocations it put (key, encoded record). */
export interface JournalRecord {
  readonly seq: number
  readonly deleted: readonly string[]
  readonly put: ReadonlyArray<readonly [string, Uint8Array]>
}

export class Journal {
  readonly path: string
  /** Where `seal` moves the records to be folded; deleted once they are in LevelDB. */
  readonly sealedPath: string
  #fd: number
  readonly #out = new RecordWriter()

  private constructor (path: string, sealedPath: string, fd: number) {
    this.path = path
    this.sealedPath = sealedPath
    this.#fd = fd
  }

  /**
   * Opens (or creates) the journal at `path` and reads back its whole records, in order: those of a
   * sealed file left at `sealedPath` first (the agent died before its fold landed), then its own;
   * `size` is the bytes of both.
   */
  static async open (path: string, sealedPath: string): Promise<{ journal: Journal, records: JournalRecord[], size: number }> {
    const sealed = await readIfAny(sealedPath)
    const current = await readIfAny(path)
    const records = [...parse(sealedPath, sealed), ...parse(path, current)]
    return { journal: new Journal(path, sealedPath, openSync(path, 'a', 0o600)), records, size: sealed.length + current.length }
  }

  /**
   * Appends one record; returns once the kernel has it (no fsync: the durability rule's "written"),
   * with the put allocations as encoded (what LevelDB holds for them), in order.
   */
  append (seq: number, deleted: readonly string[], put: readonly StoredAllocation[]): Uint8Array[] {
    const records = put.map(encodeAllocationRecord)
    const end = this.#out.write(seq, deleted, put, records)
    const bytes = this.#out.bytes
    let at = 0
    while (at < end) at += writeSync(this.#fd, bytes, at, end - at)
    return records
  }

  /**
   * Moves the records to `sealedPath` (one rename: a death at any point leaves each record in exactly
   * one of the two files) and goes on in a fresh file. The rename and the open run off the agent's
   * thread (file-system metadata writes: 0.5 ms and more each seal on a busy host); records appended
   * meanwhile follow the old file descriptor into the sealed file. `take` runs at the moment the fresh
   * file takes over: what was appended before it is in the sealed file, what comes after in the fresh
   * one; what it returns, `seal` does. The caller folds the sealed file and drops it before it seals
   * again: a rename would replace a sealed file still unfolded.
   */
  async seal<T> (take: () => T): Promise<T> {
    await rename(this.path, this.sealedPath)
    const fd = await openFile(this.path, 'a', 0o600)
    const sealed = this.#fd
    this.#fd = fd
    const taken = take()
    await closeFile(sealed)
    return taken
  }

  /** Deletes the sealed file once its records are in LevelDB; none there is fine. */
  async dropSealed (): Promise<void> {
    await unlink(this.sealedPath).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
  }

  /** Empties the journal once everything in it is in LevelDB. */
  truncate (): void {
    ftruncateSync(this.#fd, 0)
  }

  close (): void {
    closeSync(this.#fd)
  }

  /** Closes and deletes the journal (a retired pool's). */
  async remove (): Promise<void> {
    this.close()
    await unlink(this.path).catch(() => undefined)
    await this.dropSealed()
  }
}

async function readIfAny (path: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return Buffer.alloc(0)
  }
}

function parse (path: string, bytes: Buffer): JournalRecord[] {
  const records: JournalRecord[] = []
  let at = 0
  while (at + HEADER <= bytes.length) {
    const length = bytes.readUInt32LE(at)
    // Cut short by a death inside its write: never acknowledged, so dropped.
    if (at + HEADER + length > bytes.length) break
    const payload = bytes.subarray(at + HEADER, at + HEADER + length)
    if (crc32(payload) !== bytes.readUInt32LE(at + 4)) throw new StoreError(`the allocation journal ${path} is damaged at byte ${at} (checksum mismatch); nothing was changed`)
    records.push(decodeRecord(path, at, payload))
    at += HEADER + length
  }
  return records
}

function decodeRecord (path: string, at: number, payload: Buffer): JournalRecord {
  const v: unknown = packr.unpack(payload)
  const bad = (): never => { throw new StoreError(`the allocation journal ${path} holds a malformed record at byte ${at}; nothing was changed`) }
  if (!Array.isArray(v) || v.length !== 4) return bad()
  const [seq, dels, keys, values] = v as unknown[]
  if (!Number.isSafeInteger(seq) || !isStrings(dels) || !isStrings(keys) || !Array.isArray(values) || values.length !== keys.length || !values.every(x => x instanceof Uint8Array)) return bad()
  return { seq: seq as number, deleted: dels, put: keys.map((key, i) => [key, values[i] as Uint8Array] as const) }
}

function isStrings (v: unknown): v is string[] {
  return Array.isArray(v) && v.every(x => typeof x === 'string')
}
