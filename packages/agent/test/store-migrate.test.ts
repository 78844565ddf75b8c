/**
 * Opening a store written by an older schema: schema 1, whose allocations were keyed by
 * containerId/ifname alone, and schema 2, which kept each allocation's metadata under a second key.
 * Each layout is written here byte for byte as its store wrote it (the values are what it wrote for
 * these allocations), never through the current store code.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { encodeRingState } from '@weft/ring'
import { Store } from '../src/store.ts'
import { StoreError } from '../src/errors.ts'
import { makeTempDir, removeTempDir, SCHEMA_1_ENTRIES, SCHEMA_2_ENTRIES, writeSchema1, writeSchema2 } from '@weft/testkit'
import { A, U, ring } from './store-fixture.ts'

let dir: string
beforeEach(async () => { dir = await makeTempDir('migrate') })
afterEach(async () => { await removeTempDir(dir) })

const dbAt = (): Level<string, Uint8Array> => new Level<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })

async function rawKeys (): Promise<string[]> {
  const db = dbAt()
  try {
    return await db.keys().all()
  } finally {
    await db.close()
  }
}

/** A store of `schema` (1 or 2) holding the ring, a pod's allocation and network neta's gateway, plus `extra` raw entries. */
async function writeOld (extra: Record<string, Uint8Array> = {}, schema: 1 | 2 = 1): Promise<void> {
  const db = dbAt()
  try {
    if (schema === 1) {
      await writeSchema1(db, U, [
        { containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p', allocatedAt: 1700000000000, offset: 5n },
        { containerId: 'weft-gateway.neta', ifname: 'gateway', allocatedAt: 1700000000001, offset: 1n }
      ])
    } else {
      await writeSchema2(db, U, [
        { network: 'weft', containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p', allocatedAt: 1700000000000, offset: 5n },
        { network: 'neta', containerId: ':gateway', ifname: 'gateway', allocatedAt: 1700000000001, offset: 1n }
      ])
    }
    await db.put('ring', encodeRingState(ring))
    for (const [k, v] of Object.entries(extra)) await db.put(k, v)
  } finally {
    await db.close()
  }
}

/** What both older stores hold, as the current store reads it back. */
const MIGRATED = [
  { key: 'neta/:gateway/gateway', offset: 1n, payload: { network: 'neta', containerId: ':gateway', ifname: 'gateway', allocatedAt: 1700000000001 } },
  { key: 'weft/c1/eth0', offset: 5n, payload: { network: 'weft', containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p', allocatedAt: 1700000000000 } }
]
const MIGRATED_KEYS = ['alloc:neta/:gateway/gateway', 'alloc:weft/c1/eth0', 'meta:pools', 'meta:schema', 'ring']

describe('the older layouts these tests write', () => {
  it.each([[1, SCHEMA_1_ENTRIES], [2, SCHEMA_2_ENTRIES]] as const)('schema %i is byte for byte what its store wrote', async (schema, entries) => {
    await writeOld({}, schema)
    const db = dbAt()
    try {
      const written = Object.fromEntries((await db.iterator().all()).filter(([k]) => k !== 'ring').map(([k, v]) => [k, Buffer.from(v).toString('hex')]))
      expect(written).toEqual(entries)
    } finally {
      await db.close()
    }
  })
})

describe('migration from schema 1', () => {
  it('moves every allocation to network keys in place, a gateway to its network\'s node gateway, and keeps the ring', async () => {
    await writeOld()
    const s = await Store.open(dir, { default: U }, 'weft')
    try {
      expect(s.migrated).toEqual({ from: 1, allocations: 2 })
      const loaded = await s.pool('default').load()
      expect(loaded?.ring).toEqual(ring)
      expect(loaded?.allocations).toEqual(MIGRATED)
      expect([...s.pool('default').allocations.values()]).toEqual(MIGRATED)
    } finally {
      await s.close()
    }
    expect((await rawKeys()).sort()).toEqual(MIGRATED_KEYS)
    // Opened again: already schema 3, nothing more to move, the same allocations.
    const again = await Store.open(dir, { default: U }, 'other')
    try {
      expect(again.migrated).toBeNull()
      expect((await again.pool('default').load())?.allocations).toEqual(MIGRATED)
    } finally {
      await again.close()
    }
  })

  it('gives the allocations the configured network', async () => {
    await writeOld()
    const s = await Store.open(dir, { default: U }, 'pods')
    try {
      await s.pool('default').load()
      expect([...s.pool('default').allocations.keys()]).toEqual(['neta/:gateway/gateway', 'pods/c1/eth0'])
    } finally {
      await s.close()
    }
  })

  it('changes nothing when one entry is corrupt: one batch or none, and the error names the key', async () => {
    // Metadata whose fields do not match its key.
    await writeOld({ 'attach:c9/eth0': Uint8Array.from(Buffer.from(SCHEMA_1_ENTRIES['attach:c1/eth0'] ?? '', 'hex')) })
    const before = await rawKeys()
    const err = await Store.open(dir, { default: U }, 'weft').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toContain('"attach:c9/eth0"')
    expect(await rawKeys()).toEqual(before)
    const db = dbAt()
    try {
      expect(Buffer.from(await db.get('meta:schema') ?? []).toString('hex')).toBe('01')
    } finally {
      await db.close()
    }
  })

  it('refuses a store from a newer schema, naming it', async () => {
    await writeOld({ 'meta:schema': Uint8Array.of(6) })
    const err = await Store.open(dir, { default: U }, 'weft').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toContain('has schema 6; this agent reads schemas 1 to 5')
  })
})

describe('migration from schema 2', () => {
  it('joins each allocation and its metadata into one record in place, nothing lost, and keeps the ring', async () => {
    await writeOld({}, 2)
    const s = await Store.open(dir, { default: U }, 'ignored')
    try {
      expect(s.migrated).toEqual({ from: 2, allocations: 2 })
      const loaded = await s.pool('default').load()
      expect(loaded?.ring).toEqual(ring)
      expect(loaded?.allocations).toEqual(MIGRATED)
    } finally {
      await s.close()
    }
    expect((await rawKeys()).sort()).toEqual(MIGRATED_KEYS)
    const again = await Store.open(dir, { default: U }, 'weft')
    try {
      expect(again.migrated).toBeNull()
      expect((await again.pool('default').load())?.allocations).toEqual(MIGRATED)
    } finally {
      await again.close()
    }
  })

  it.each([
    ['metadata of no allocation', { 'attach:weft/c2/eth0': hex('96a477656674a26332a465746830a26e73a170cb4278bcfe56800000') }, '"attach:weft/c2/eth0" holds metadata of no allocation'],
    ['an allocation without metadata', { 'alloc:weft/c2/eth0': hex('9302ac776566742f63322f65746830c40106') }, '"attach:weft/c2/eth0" is missing'],
    ['metadata of another attachment', { 'attach:weft/c2/eth0': hex(SCHEMA_2_ENTRIES['attach:weft/c1/eth0']), 'alloc:weft/c2/eth0': hex('9302ac776566742f63322f65746830c40106') }, '"attach:weft/c2/eth0": holds the metadata of weft/c1/eth0']
  ])('changes nothing when the store holds %s, and names the key', async (_what, extra, message) => {
    await writeOld(extra, 2)
    const before = await rawKeys()
    const err = await Store.open(dir, { default: U }, 'weft').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toContain(message)
    expect(await rawKeys()).toEqual(before)
  })
})

function hex (h: string | undefined): Uint8Array {
  return Uint8Array.from(Buffer.from(h ?? '', 'hex'))
}

describe('a ring a codec-3 build persisted', () => {
  it('opens upgraded: its per-token version becomes the (token, version) order of this codec, the rest as it was', async () => {
    // The version-3 layout of the fixture's ring: [universe, peer table, seeds, (gap, owner, version)..., members, removals, hints].
    const v3 = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true }).pack([3, [U, [A], [0], [0, 0, 3], [['node-1', 1, []]], [], []]])
    await writeOld({ ring: v3 })
    const s = await Store.open(dir, { default: U }, 'weft')
    try {
      const loaded = await s.pool('default').load()
      expect(loaded?.ring).toEqual({ ...ring, entries: [{ token: 0n, owner: A, version: 3 * 16 }] })
    } finally {
      await s.close()
    }
  })
})
