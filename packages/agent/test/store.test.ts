import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { join } from 'node:path'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { encodeAllocation } from '@weft/ring'
import type { Cidr, PersistDelta } from '@weft/ring'
import { access, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { Store } from '../src/store.ts'
import { FOLD_AFTER, Journal } from '../src/store-journal.ts'
import type { JournalRecord } from '../src/store-journal.ts'
import type { AttachmentMeta, StoredAllocation } from '../src/store.ts'
import { StoreError } from '../src/errors.ts'
import { makeTempDir, removeTempDir, waitFor } from '@weft/testkit'
import { A, U, ring } from './store-fixture.ts'

const meta = (key: string): AttachmentMeta => {
  const [network = '', containerId = '', ifname = ''] = key.split('/')
  return { network, containerId, ifname, podNamespace: 'default', podName: `pod-${containerId}`, allocatedAt: 1700000000000 }
}
/** The allocation of `key` at `offset`, carrying its metadata as the core hands it over. */
const alloc = (key: string, offset: bigint): StoredAllocation => ({ key, offset, payload: meta(key) })

let dir: string
beforeEach(async () => { dir = await makeTempDir('store') })
afterEach(async () => { await removeTempDir(dir) })

/**
 * Observes every batch the store writes to LevelDB, in either of its forms (an array of operations,
 * or a batch built op by op and then written): the `sync` option of each write, in order. The
 * batches still run on the real store.
 */
function observeBatchWrites (): { readonly syncs: Array<boolean | undefined>, restore: () => void } {
  const syncs: Array<boolean | undefined> = []
  const original = Level.prototype.batch
  type Written = { write: (options?: { sync?: boolean }) => Promise<void> }
  const spy = vi.spyOn(Level.prototype, 'batch').mockImplementation(function (this: Level<string, Uint8Array>, ...args: unknown[]) {
    const made = (original as (...a: unknown[]) => unknown).apply(this, args)
    if (args.length > 0) syncs.push((args[1] as { sync?: boolean } | undefined)?.sync)
    else {
      const chained = made as Written
      const write = chained.write.bind(chained)
      chained.write = async options => { syncs.push(options?.sync); await write(options) }
    }
    return made as never
  })
  return { syncs, restore: () => { spy.mockRestore() } }
}

async function withStore<T> (universe: Cidr, f: (s: Store) => Promise<T>): Promise<T> {
  const s = await Store.open(dir, { default: universe }, 'weft')
  try {
    return await f(s)
  } finally {
    await s.close()
  }
}

describe('store', () => {
  it('a fresh store loads as nothing', async () => {
    await withStore(U, async s => {
      expect(await s.pool('default').load()).toBeUndefined()
      expect(s.pool('default').allocations.size).toBe(0)
    })
  })

  it('round-trips batches across a reopen, deletes included', async () => {
    await withStore(U, async s => {
      await s.pool('default').commit({
        ring,
        acceptor: [{ key: 'init', promised: { n: 2, proposer: A }, accepted: { ballot: { n: 2, proposer: A }, value: [A] } }],
        putAllocations: [alloc('n1/c1/eth0', 5n), alloc('n1/c2/eth0', 6n), alloc('n2/c3/net1', 7n)],
        deleteAllocations: []
      })
      await s.pool('default').commit({ putAllocations: [], deleteAllocations: ['n1/c2/eth0'] })
      expect([...s.pool('default').allocations.keys()]).toEqual(['n1/c1/eth0', 'n2/c3/net1'])
    })
    await withStore(U, async s => {
      const loaded = await s.pool('default').load()
      expect(loaded?.ring).toEqual(ring)
      expect(loaded?.allocations).toEqual([alloc('n1/c1/eth0', 5n), alloc('n2/c3/net1', 7n)])
      expect(loaded?.acceptor).toEqual([{ key: 'init', promised: { n: 2, proposer: A }, accepted: { ballot: { n: 2, proposer: A }, value: [A] } }])
      // One table: the store's view holds the very records handed to the core.
      expect([...s.pool('default').allocations.values()]).toEqual(loaded?.allocations)
      expect(s.pool('default').allocations.get('n1/c1/eth0')).toBe(loaded?.allocations[0])
    })
  })

  it('refuses a store made for another range, naming both, and changes nothing', async () => {
    await withStore(U, async s => { await s.pool('default').commit({ ring, putAllocations: [alloc('n1/c1/eth0', 5n)], deleteAllocations: [] }) })
    const err = await Store.open(dir, { default: '10.0.0.0/16' as Cidr }, 'weft').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toContain('10.32.0.0/12')
    expect((err as Error).message).toContain('10.0.0.0/16')
    const loaded = await withStore(U, async s => await s.pool('default').load())
    expect(loaded?.allocations).toEqual([alloc('n1/c1/eth0', 5n)])
  })

  it('names the key of a corrupt value', async () => {
    await withStore(U, async s => { await s.pool('default').commit({ ring, putAllocations: [alloc('n1/c1/eth0', 5n)], deleteAllocations: [] }) })
    const db = new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.put('alloc:n1/c1/eth0', Uint8Array.from([0xc1, 0xff, 0x00]))
    await db.close()
    const err = await withStore(U, async s => await s.pool('default').load()).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toContain('"alloc:n1/c1/eth0"')
  })

  it('refuses a record whose metadata is another attachment\'s, naming both', async () => {
    await withStore(U, async s => { await s.pool('default').commit({ ring, putAllocations: [alloc('n1/c1/eth0', 5n)], deleteAllocations: [] }) })
    const db = new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
    // The record of n1/c1/eth0 with the metadata array of n1/c2/eth0 (msgpack, as the store writes it).
    const other = new Packr({ useRecords: false }).pack(['n1', 'c2', 'eth0', null, null, 1700000000000])
    await db.put('alloc:n1/c1/eth0', encodeAllocation({ key: 'n1/c1/eth0', offset: 5n, payload: other }))
    await db.close()
    const err = await withStore(U, async s => await s.pool('default').load()).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toBe('corrupt value at key "alloc:n1/c1/eth0": holds the metadata of "n1/c2/eth0"')
  })

  it('keeps the node names reclaim has seen across a reopen, and names the key when they are corrupt', async () => {
    expect(await withStore(U, async s => await s.loadNodesSeen())).toEqual([])
    await withStore(U, async s => { await s.saveNodesSeen(['node-a', 'node-b']) })
    expect(await withStore(U, async s => await s.loadNodesSeen())).toEqual(['node-a', 'node-b'])
    const db = new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.put('reclaim:nodes-seen', Uint8Array.from([0x01]))
    await db.close()
    const err = await withStore(U, async s => await s.loadNodesSeen()).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toBe('corrupt value at key "reclaim:nodes-seen": expected a list of node names')
  })

  it('refuses a second opener of the same data dir', async () => {
    await withStore(U, async () => {
      const err = await Store.open(dir, { default: U }, 'weft').then(() => null, (e: unknown) => e)
      expect(err).toBeInstanceOf(StoreError)
      expect((err as Error).message).toContain('in use')
    })
  })

  it('syncs every batch that changes the ring or a Paxos record, and journals allocations alone without an fsync', async () => {
    const acceptor = [{ key: 'init', promised: { n: 2, proposer: A }, accepted: null }]
    const put = [alloc('n1/c1/eth0', 5n)]
    const kinds: Array<[string, PersistDelta<AttachmentMeta>, boolean]> = [
      ['ring', { ring, putAllocations: [], deleteAllocations: [] }, true],
      ['acceptor', { acceptor, putAllocations: [], deleteAllocations: [] }, true],
      ['ring with allocations', { ring, putAllocations: [alloc('n1/c2/eth0', 6n)], deleteAllocations: [] }, true],
      ['allocation put', { putAllocations: put, deleteAllocations: [] }, false],
      ['allocation delete', { putAllocations: [], deleteAllocations: ['n1/c1/eth0'] }, false],
      ['allocations with no acceptor change', { acceptor: [], putAllocations: put, deleteAllocations: [] }, false]
    ]
    // Observes the options LevelDB itself is given.
    const writes = observeBatchWrites()
    try {
      await withStore(U, async s => {
        for (const [kind, delta, synced] of kinds) {
          writes.syncs.length = 0
          expect(await s.pool('default').commit(delta), kind).toBe(synced ? 'synced' : 'written')
          // Allocations alone go to the journal, not to LevelDB (store-journal.ts).
          expect(writes.syncs, kind).toEqual(synced ? [true] : [])
        }
        writes.syncs.length = 0
        expect(await s.pool('default').commit({ acceptor: [], putAllocations: [], deleteAllocations: [] })).toBe('empty')
        expect(writes.syncs).toEqual([])
      })
    } finally {
      writes.restore()
    }
    const loaded = await withStore(U, async s => await s.pool('default').load())
    expect(loaded?.allocations).toEqual([alloc('n1/c1/eth0', 5n), alloc('n1/c2/eth0', 6n)])
    expect(loaded?.acceptor).toEqual(acceptor)
  })

  it('reads back what the journal holds after a death: in order, once, a cut-short last record dropped', async () => {
    const path = join(dir, 'journal-default.log')
    await withStore(U, async s => { await s.pool('default').commit({ ring, putAllocations: [alloc('n1/c1/eth0', 5n)], deleteAllocations: [] }) })
    // What an agent killed after three allocation batches leaves: records 2 to 4, the last one cut
    // short inside its write, and record 1 (already folded into LevelDB) still there.
    const { journal } = await Journal.open(path, sealedPath())
    journal.append(1, [], [alloc('n1/stale/eth0', 9n)])
    journal.append(2, [], [alloc('n1/c2/eth0', 6n)])
    journal.append(3, ['n1/c2/eth0'], [alloc('n1/c3/eth0', 7n)])
    journal.append(4, [], [alloc('n1/c4/eth0', 8n)])
    journal.close()
    await truncate(path, (await stat(path)).size - 3)
    const loaded = await withStore(U, async s => await s.pool('default').load())
    expect(loaded?.allocations).toEqual([alloc('n1/c1/eth0', 5n), alloc('n1/c3/eth0', 7n)])
    // Folded into LevelDB and emptied: a second start reads the same from LevelDB alone.
    expect((await stat(path)).size).toBe(0)
    await withStore(U, async s => {
      expect((await s.pool('default').load())?.allocations).toEqual([alloc('n1/c1/eth0', 5n), alloc('n1/c3/eth0', 7n)])
      // Allocations after the restart journal on from there.
      await s.pool('default').commit({ putAllocations: [alloc('n1/c5/eth0', 10n)], deleteAllocations: [] })
      expect((await stat(path)).size).toBeGreaterThan(0)
    })
    expect((await withStore(U, async s => await s.pool('default').load()))?.allocations.map(a => a.key)).toEqual(['n1/c1/eth0', 'n1/c3/eth0', 'n1/c5/eth0'])
    // A journal holding nothing but a record cut short: dropped, and the next records read back whole.
    await writeFile(path, Buffer.from([40, 0, 0, 0, 1, 2, 3]))
    await withStore(U, async s => {
      expect((await s.pool('default').load())?.allocations.length).toBe(3)
      await s.pool('default').commit({ putAllocations: [], deleteAllocations: ['n1/c5/eth0'] })
      const reread = await readBack(path)
      expect(reread.records.map(r => [r.deleted, r.put])).toEqual([[['n1/c5/eth0'], []]])
    })
    expect((await withStore(U, async s => await s.pool('default').load()))?.allocations.map(a => a.key)).toEqual(['n1/c1/eth0', 'n1/c3/eth0'])
  })

  it('seals the journal every FOLD_AFTER batches and folds it into LevelDB in the background while allocations go on, and refuses a damaged journal naming it', async () => {
    const path = join(dir, 'journal-default.log')
    const writes = observeBatchWrites()
    try {
      await withStore(U, async s => {
        const pool = s.pool('default')
        await pool.commit({ ring, putAllocations: [], deleteAllocations: [] })
        writes.syncs.length = 0
        for (let i = 0; i < FOLD_AFTER; i++) await pool.commit({ putAllocations: [alloc(`n1/c${i}/eth0`, BigInt(10 + i))], deleteAllocations: [] })
        // The batch that filled the journal was journalled and answered like the others: nothing written to LevelDB yet.
        expect(writes.syncs).toEqual([])
        // Sealed after that turn (the rename off the agent's thread), then folded: what comes once
        // the fresh file took over (before the fold's batch) goes to the fresh file.
        await waitFor('the sealed journal handed to LevelDB', async () => writes.syncs.length > 0, 100, 20)
        await pool.commit({ putAllocations: [alloc('n1/during/eth0', 5n)], deleteAllocations: ['n1/c0/eth0'] })
        await waitFor('the sealed journal folded and deleted', async () => await gone(sealedPath()), 100, 20)
        // One unsynced batch, like the records it holds.
        expect(writes.syncs).toEqual([false])
        // Only the batch that came after the seal is left in the journal.
        const left = (await readBack(path)).records
        expect(left.map(r => [r.deleted, r.put.map(([key]) => key)])).toEqual([[['n1/c0/eth0'], ['n1/during/eth0']]])
      })
    } finally {
      writes.restore()
    }
    expect((await stat(path)).size).toBe(0)
    const loaded = await withStore(U, async s => await s.pool('default').load())
    expect(loaded?.allocations.length).toBe(FOLD_AFTER)
    expect(loaded?.allocations.some(a => a.key === 'n1/c0/eth0')).toBe(false)
    const { journal } = await Journal.open(path, sealedPath())
    journal.append(999_999, ['n1/during/eth0'], [])
    journal.append(1_000_000, ['n1/c1/eth0'], [])
    journal.close()
    const bytes = await readFile(path)
    bytes[10] = bytes[10]! ^ 0xff
    await writeFile(path, bytes)
    const err = await withStore(U, async s => await s.pool('default').load()).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toBe(`the allocation journal ${path} is damaged at byte 0 (checksum mismatch); nothing was changed`)
  })

  // A death at each step of a seal and its fold leaves the files below; the start folds them as one.
  describe('a death during a seal or its fold', () => {
    /** Journals records `from`..`to` (allocation `n1/c<seq>/eth0` at offset 100+seq) into `file`. */
    const journalRecords = async (file: string, from: number, to: number, deletes: ReadonlyMap<number, string> = new Map()): Promise<void> => {
      const { journal } = await Journal.open(file, join(dir, 'unused.log'))
      for (let seq = from; seq <= to; seq++) {
        const deleted = deletes.get(seq)
        journal.append(seq, deleted === undefined ? [] : [deleted], [alloc(`n1/c${seq}/eth0`, BigInt(100 + seq))])
      }
      journal.close()
    }
    const keys = async (): Promise<string[]> => ((await withStore(U, async s => await s.pool('default').load()))?.allocations ?? []).map(a => a.key)
    const ringOnly = async (): Promise<void> => { await withStore(U, async s => { await s.pool('default').commit({ ring, putAllocations: [], deleteAllocations: [] }) }) }

    it('after the rename, before the fresh file: the sealed file alone is read', async () => {
      await ringOnly()
      await journalRecords(sealedPath(), 2, 4)
      expect(await keys()).toEqual(['n1/c2/eth0', 'n1/c3/eth0', 'n1/c4/eth0'])
      expect(await gone(sealedPath())).toBe(true)
    })

    it('while the fold ran: the sealed records, then those of the fresh file, in order', async () => {
      await ringOnly()
      await journalRecords(sealedPath(), 2, 4)
      // The fresh file deletes an allocation the sealed one made.
      await journalRecords(join(dir, 'journal-default.log'), 5, 6, new Map([[5, 'n1/c3/eth0']]))
      expect(await keys()).toEqual(['n1/c2/eth0', 'n1/c4/eth0', 'n1/c5/eth0', 'n1/c6/eth0'])
      expect(await gone(sealedPath())).toBe(true)
      expect((await stat(join(dir, 'journal-default.log'))).size).toBe(0)
      // A second start reads the same from LevelDB alone.
      expect(await keys()).toEqual(['n1/c2/eth0', 'n1/c4/eth0', 'n1/c5/eth0', 'n1/c6/eth0'])
    })

    it('after the fold landed, before the sealed file was deleted: its records are not applied again', async () => {
      await withStore(U, async s => {
        const pool = s.pool('default')
        await pool.commit({ ring, putAllocations: [], deleteAllocations: [] })
        // Records 2 to FOLD_AFTER + 1 (the ring was 1), as journalRecords writes them.
        for (let seq = 2; seq <= FOLD_AFTER + 1; seq++) await pool.commit({ putAllocations: [alloc(`n1/c${seq}/eth0`, BigInt(100 + seq))], deleteAllocations: [] })
        await waitFor('the sealed journal folded and deleted', async () => await gone(sealedPath()), 100, 20)
        // Then a synced batch releases one of them.
        await pool.commit({ ring, putAllocations: [], deleteAllocations: ['n1/c7/eth0'] })
      })
      // The sealed file as it was before its deletion.
      await journalRecords(sealedPath(), 2, FOLD_AFTER + 1)
      const after = await keys()
      expect(after.length).toBe(FOLD_AFTER - 1)
      expect(after).not.toContain('n1/c7/eth0')
      expect(await gone(sealedPath())).toBe(true)
    })
  })
})

function sealedPath (): string {
  return join(dir, 'journal-default.sealed.log')
}

async function gone (path: string): Promise<boolean> {
  return await access(path).then(() => false, () => true)
}

/** What the journal file at `path` holds, read with the journal's own reader (and no sealed file). */
async function readBack (path: string): Promise<{ records: JournalRecord[] }> {
  const read = await Journal.open(path, join(dir, 'unused.log'))
  read.journal.close()
  return read
}
