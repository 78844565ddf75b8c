/**
 * The store with pools (schema 4 on): a part per pool, each pool's range recorded, and schema-3 and -4
 * data dirs (one range, from before pools; pools, before the journal) opened in place, nothing lost.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { encodeAllocation, encodeRingState } from '@weft/ring'
import type { Cidr, RingState } from '@weft/ring'
import { makeTempDir, removeTempDir } from '@weft/testkit'
import { StoreError } from '../src/errors.ts'
import { Store } from '../src/store.ts'
import type { AttachmentMeta, StoredAllocation } from '../src/store.ts'
import { A, U, ring } from './store-fixture.ts'

const LAN = '192.168.1.0/24' as Cidr
const lanRing: RingState = { ...ring, universe: LAN, entries: [{ token: 0n, owner: A, version: 1 }] }
const packr = new Packr({ useRecords: false, mapsAsObjects: true })
const meta = (key: string): AttachmentMeta => {
  const [network = '', containerId = '', ifname = ''] = key.split('/')
  return { network, containerId, ifname, allocatedAt: 1700000000000 }
}
const alloc = (key: string, offset: bigint): StoredAllocation => ({ key, offset, payload: meta(key) })

let dir: string
beforeEach(async () => { dir = await makeTempDir('store-pools') })
afterEach(async () => { await removeTempDir(dir) })

const dbAt = (): Level<string, Uint8Array> => new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })

async function raw (): Promise<Record<string, string>> {
  const db = dbAt()
  try {
    return Object.fromEntries((await db.iterator().all()).map(([k, v]) => [k, Buffer.from(v).toString('hex')]))
  } finally {
    await db.close()
  }
}

async function withStore<T> (pools: Record<string, Cidr>, f: (s: Store) => Promise<T>): Promise<T> {
  const s = await Store.open(dir, pools, 'weft')
  try {
    return await f(s)
  } finally {
    await s.close()
  }
}

describe('store with pools', () => {
  it('keeps each pool apart across a reopen: same attachment key in two pools, two allocations', async () => {
    await withStore({ default: U, lan: LAN }, async s => {
      await s.pool('default').commit({ ring, putAllocations: [alloc('weft/c1/eth0', 5n)], deleteAllocations: [] })
      await s.pool('lan').commit({ ring: lanRing, putAllocations: [alloc('weft/c1/eth0', 7n), alloc('lan/c2/net1', 9n)], deleteAllocations: [] })
      await s.pool('lan').commit({ putAllocations: [], deleteAllocations: ['lan/c2/net1'] })
    })
    await withStore({ default: U, lan: LAN }, async s => {
      expect((await s.pool('default').load())?.allocations).toEqual([alloc('weft/c1/eth0', 5n)])
      const lan = await s.pool('lan').load()
      expect(lan?.ring).toEqual(lanRing)
      expect(lan?.allocations).toEqual([alloc('weft/c1/eth0', 7n)])
      expect(s.unconfigured.size).toBe(0)
    })
    expect(Object.keys(await raw()).sort()).toEqual([
      'alloc:weft/c1/eth0', 'journal', 'meta:pools', 'meta:schema', 'pool/lan/alloc:weft/c1/eth0', 'pool/lan/journal', 'pool/lan/ring', 'ring'
    ])
  })

  it('refuses a pool configured with another range, naming the pool and both ranges, and changes nothing', async () => {
    await withStore({ default: U, lan: LAN }, async s => {
      await s.pool('lan').commit({ ring: lanRing, putAllocations: [alloc('lan/c2/net1', 9n)], deleteAllocations: [] })
    })
    const before = await raw()
    const err = await Store.open(dir, { default: U, lan: '192.168.2.0/24' as Cidr }, 'weft').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toMatch(/range 192\.168\.1\.0\/24 of pool lan, but the configuration gives 192\.168\.2\.0\/24/)
    expect(await raw()).toEqual(before)
  })

  it('keeps a pool the configuration no longer names, and says so; adding one later records it', async () => {
    await withStore({ default: U, lan: LAN }, async s => {
      await s.pool('lan').commit({ ring: lanRing, putAllocations: [alloc('lan/c2/net1', 9n)], deleteAllocations: [] })
    })
    await withStore({ default: U }, async s => {
      expect([...s.unconfigured]).toEqual([['lan', LAN]])
    })
    await withStore({ default: U, lan: LAN }, async s => {
      expect((await s.pool('lan').load())?.allocations).toEqual([alloc('lan/c2/net1', 9n)])
    })
  })

  it('opens a schema-5 data dir (the journal, before sealed files) in place as schema 6', async () => {
    await withStore({ default: U, lan: LAN }, async s => {
      await s.pool('lan').commit({ ring: lanRing, putAllocations: [alloc('lan/c2/net1', 9n)], deleteAllocations: [] })
      await s.pool('lan').commit({ putAllocations: [alloc('lan/c3/net1', 10n)], deleteAllocations: [] })
    })
    const db = dbAt()
    try {
      await db.put('meta:schema', packr.pack(5), { sync: true })
    } finally {
      await db.close()
    }
    expect((await withStore({ default: U, lan: LAN }, async s => await s.pool('lan').load()))?.allocations.map(a => a.key)).toEqual(['lan/c2/net1', 'lan/c3/net1'])
    expect((await raw())['meta:schema']).toBe(Buffer.from(packr.pack(6)).toString('hex'))
  })

  it('opens a schema-4 data dir (pools, before the journal) in place as schema 6', async () => {
    await withStore({ default: U, lan: LAN }, async s => {
      await s.pool('lan').commit({ ring: lanRing, putAllocations: [alloc('lan/c2/net1', 9n)], deleteAllocations: [] })
    })
    // Schema 4 had the same keys, less each pool's `journal`.
    const db = dbAt()
    try {
      await db.batch([{ type: 'put', key: 'meta:schema', value: packr.pack(4) }, { type: 'del', key: 'pool/lan/journal' }], { sync: true })
    } finally {
      await db.close()
    }
    await withStore({ default: U, lan: LAN }, async s => {
      expect((await s.pool('lan').load())?.allocations).toEqual([alloc('lan/c2/net1', 9n)])
      await s.pool('lan').commit({ putAllocations: [alloc('lan/c3/net1', 10n)], deleteAllocations: [] })
    })
    expect((await raw())['meta:schema']).toBe(Buffer.from(packr.pack(6)).toString('hex'))
    expect((await withStore({ default: U, lan: LAN }, async s => await s.pool('lan').load()))?.allocations.map(a => a.key)).toEqual(['lan/c2/net1', 'lan/c3/net1'])
  })

  it('opens a schema-3 data dir (one range, before pools) as pool default in place: every key kept, nothing lost', async () => {
    // Schema 3's layout, written here as schema 3 wrote it: one record per allocation, the range in meta:universe.
    const db = dbAt()
    const held = { key: 'weft/c1/eth0', offset: 5n, payload: { network: 'weft', containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p', allocatedAt: 1700000000000 } }
    try {
      await db.batch([
        { type: 'put', key: 'meta:schema', value: packr.pack(3) },
        { type: 'put', key: 'meta:universe', value: packr.pack(U) },
        { type: 'put', key: 'ring', value: encodeRingState(ring) },
        { type: 'put', key: 'alloc:weft/c1/eth0', value: encodeAllocation({ key: held.key, offset: held.offset, payload: packr.pack(['weft', 'c1', 'eth0', 'ns', 'p', 1700000000000]) }) }
      ], { sync: true })
    } finally {
      await db.close()
    }
    const before = await raw()
    await withStore({ default: U, lan: LAN }, async s => {
      expect(s.migrated).toBeNull()
      const loaded = await s.pool('default').load()
      expect(loaded?.ring).toEqual(ring)
      expect([...s.pool('default').allocations.values()]).toEqual([held])
      expect(await s.pool('lan').load()).toBeUndefined()
    })
    const after = await raw()
    const { 'meta:universe': _gone, 'meta:schema': _old, ...kept } = before
    expect(after).toMatchObject(kept)
    expect(Object.keys(after).sort()).toEqual(['alloc:weft/c1/eth0', 'meta:pools', 'meta:schema', 'ring'])
    // A store from before pools holds pool default's range: another range for it is refused.
    const err = await Store.open(dir, { default: '10.0.0.0/16' as Cidr }, 'weft').then(() => null, (e: unknown) => e)
    expect((err as Error).message).toContain('but IPALLOC_RANGE is 10.0.0.0/16')
  })
})

describe('retiring a pool in the store', () => {
  it('removes every key of the pool and records it retired, so it is never opened again', async () => {
    await withStore({ default: U, lan: LAN }, async s => {
      await s.pool('lan').commit({ ring: lanRing, putAllocations: [alloc('lan/:gateway/gateway', 1n)], deleteAllocations: [] })
      await s.pool('default').commit({ ring, putAllocations: [alloc('weft/c1/eth0', 5n)], deleteAllocations: [] })
      await s.retirePool('lan')
      expect([...s.retired]).toEqual(['lan'])
    })
    expect(Object.keys(await raw()).sort()).toEqual(['alloc:weft/c1/eth0', 'journal', 'meta:pools', 'meta:retired', 'meta:schema', 'ring'])
    await withStore({ default: U, lan: LAN }, async s => {
      expect([...s.retired]).toEqual(['lan'])
      expect(() => s.pool('lan')).toThrow('not opened for pool "lan"')
      expect((await s.pool('default').load())?.allocations).toEqual([alloc('weft/c1/eth0', 5n)])
    })
  })
})
