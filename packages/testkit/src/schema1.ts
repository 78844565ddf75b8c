/**
 * The store's schema-1 layout (before attachments had a network), written by hand for the migration
 * tests: `meta:schema` = 1, `meta:universe`, and per allocation `alloc:<containerId>/<ifname>` =
 * [1, key, offset as big-endian bytes] and `attach:<containerId>/<ifname>` = [containerId, ifname,
 * podNamespace | null, podName | null, allocatedAt], all msgpack. Independent of the current store code.
 */
import { join } from 'node:path'
import { Packr } from 'msgpackr'
import { Level } from 'level'

export interface Schema1Allocation {
  readonly containerId: string
  readonly ifname: string
  readonly podNamespace?: string
  readonly podName?: string
  readonly allocatedAt: number
  readonly offset: bigint
}

/**
 * What the schema-1 store wrote, as hex, for range 10.32.0.0/12 with c1/eth0 (ns/p) at offset 5 and
 * a gateway reservation weft-gateway.neta/gateway at offset 1: the pin that this writer matches it.
 */
export const SCHEMA_1_ENTRIES: Readonly<Record<string, string>> = {
  'alloc:c1/eth0': '9301a763312f65746830c40105',
  'alloc:weft-gateway.neta/gateway': '9301b9776566742d676174657761792e6e6574612f67617465776179c40101',
  'attach:c1/eth0': '95a26331a465746830a26e73a170cb4278bcfe56800000',
  'attach:weft-gateway.neta/gateway': '95b1776566742d676174657761792e6e657461a767617465776179c0c0cb4278bcfe56801000',
  'meta:schema': '01',
  'meta:universe': 'ac31302e33322e302e302f3132'
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/** An offset as the stores of schemas 1 and 2 wrote it: minimal big-endian bytes. */
export function offsetBytes (v: bigint): Uint8Array {
  const bytes: number[] = []
  for (let x = v; x > 0n; x >>= 8n) bytes.unshift(Number(x & 255n))
  return Uint8Array.from(bytes)
}

/** Writes the schema-1 meta keys and `allocations` into `db` (which may already hold a ring). */
export async function writeSchema1 (db: Level<string, Uint8Array>, universe: string, allocations: readonly Schema1Allocation[]): Promise<void> {
  const ops: Array<{ type: 'put', key: string, value: Uint8Array }> = [
    { type: 'put', key: 'meta:schema', value: packr.pack(1) },
    { type: 'put', key: 'meta:universe', value: packr.pack(universe) }
  ]
  for (const a of allocations) {
    const key = `${a.containerId}/${a.ifname}`
    ops.push({ type: 'put', key: `alloc:${key}`, value: packr.pack([1, key, offsetBytes(a.offset)]) })
    ops.push({ type: 'put', key: `attach:${key}`, value: packr.pack([a.containerId, a.ifname, a.podNamespace ?? null, a.podName ?? null, a.allocatedAt]) })
  }
  await db.batch(ops, { sync: true })
}

/**
 * Turns the store of a stopped agent's data dir (its ring made, no allocations) into a schema-1
 * store holding `allocations`, as an agent of schema 1 would have left it.
 */
export async function rewriteAsSchema1 (dataDir: string, universe: string, allocations: readonly Schema1Allocation[]): Promise<void> {
  const db = new Level<string, Uint8Array>(join(dataDir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    const held = await db.keys({ gte: 'alloc:', lt: 'alloc;' }).all()
    if (held.length > 0) throw new Error(`${dataDir} already holds allocations: ${held.join(', ')}`)
    await writeSchema1(db, universe, allocations)
  } finally {
    await db.close()
  }
}
