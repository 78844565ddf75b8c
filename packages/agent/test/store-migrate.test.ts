/**
 * Opening a store written by schema 1, whose allocations were keyed by containerId/ifname alone.
 * The schema-1 layout is written here byte for byte as the schema-1 store wrote it (the values are
 * what it wrote for these allocations), never through the current store code.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { Level } from 'level'
import { encodeRingState } from '@weft/ring'
import { Store } from '../src/store.ts'
import { StoreError } from '../src/errors.ts'
import { makeTempDir, removeTempDir, SCHEMA_1_ENTRIES, writeSchema1 } from '@weft/testkit'
import { U, ring } from './store-fixture.ts'


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

async function writeOld (extra: Record<string, Uint8Array> = {}): Promise<void> {
  const db = dbAt()
  try {
    await writeSchema1(db, U, [
      { containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p', allocatedAt: 1700000000000, offset: 5n },
      { containerId: 'weft-gateway.neta', ifname: 'gateway', allocatedAt: 1700000000001, offset: 1n }
    ])
    await db.put('ring', encodeRingState(ring))
    for (const [k, v] of Object.entries(extra)) await db.put(k, v)
  } finally {
    await db.close()
  }
}

describe('the schema-1 layout these tests write', () => {
  it('is byte for byte what the schema-1 store wrote', async () => {
    await writeOld()
    const db = dbAt()
    try {
      const written = Object.fromEntries((await db.iterator().all()).filter(([k]) => k !== 'ring').map(([k, v]) => [k, Buffer.from(v).toString('hex')]))
      expect(written).toEqual(SCHEMA_1_ENTRIES)
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
      expect(s.migrated).toBe(2)
      const loaded = await s.pool('default').load()
      expect(loaded?.ring).toEqual(ring)
      expect(loaded?.allocations).toEqual([
        { key: 'neta/:gateway/gateway', offset: 1n },
        { key: 'weft/c1/eth0', offset: 5n }
      ])
      expect([...s.pool('default').allocations.entries()]).toEqual([
        ['neta/:gateway/gateway', { network: 'neta', containerId: ':gateway', ifname: 'gateway', allocatedAt: 1700000000001, offset: 1n }],
        ['weft/c1/eth0', { network: 'weft', containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p', allocatedAt: 1700000000000, offset: 5n }]
      ])
    } finally {
      await s.close()
    }
    expect((await rawKeys()).sort()).toEqual([
      'alloc:neta/:gateway/gateway', 'alloc:weft/c1/eth0',
      'attach:neta/:gateway/gateway', 'attach:weft/c1/eth0',
      'meta:pools', 'meta:schema', 'ring'
    ])
    // Opened again: already schema 3, nothing more to move, the same allocations.
    const again = await Store.open(dir, { default: U }, 'other')
    try {
      expect(again.migrated).toBe(0)
      expect((await again.pool('default').load())?.allocations.map(a => a.key)).toEqual(['neta/:gateway/gateway', 'weft/c1/eth0'])
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
    await writeOld({ 'meta:schema': Uint8Array.of(4) })
    const err = await Store.open(dir, { default: U }, 'weft').then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as Error).message).toContain('has schema 4')
  })
})
