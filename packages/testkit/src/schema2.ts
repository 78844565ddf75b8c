/**
 * The store's schema-2 layout (an allocation under two keys), written by hand for the migration
 * tests: `meta:schema` = 2, `meta:universe`, and per allocation `alloc:<network>/<containerId>/<ifname>`
 * = [2, key, offset as big-endian bytes] and `attach:<key>` = [network, containerId, ifname,
 * podNamespace | null, podName | null, allocatedAt], all msgpack. Independent of the current store code.
 */
import { Packr } from 'msgpackr'
import type { Level } from 'level'
import { offsetBytes } from './schema1.ts'

export interface Schema2Allocation {
  readonly network: string
  readonly containerId: string
  readonly ifname: string
  readonly podNamespace?: string
  readonly podName?: string
  readonly allocatedAt: number
  readonly offset: bigint
}

/**
 * What the schema-2 store wrote, as hex, for range 10.32.0.0/12 with weft/c1/eth0 (ns/p) at offset
 * 5 and the node gateway neta/:gateway/gateway at offset 1: the pin that this writer matches it.
 */
export const SCHEMA_2_ENTRIES: Readonly<Record<string, string>> = {
  'alloc:neta/:gateway/gateway': '9302b56e6574612f3a676174657761792f67617465776179c40101',
  'alloc:weft/c1/eth0': '9302ac776566742f63312f65746830c40105',
  'attach:neta/:gateway/gateway': '96a46e657461a83a67617465776179a767617465776179c0c0cb4278bcfe56801000',
  'attach:weft/c1/eth0': '96a477656674a26331a465746830a26e73a170cb4278bcfe56800000',
  'meta:schema': '02',
  'meta:universe': 'ac31302e33322e302e302f3132'
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/** Writes the schema-2 meta keys and `allocations` into `db` (which may already hold a ring). */
export async function writeSchema2 (db: Level<string, Uint8Array>, universe: string, allocations: readonly Schema2Allocation[]): Promise<void> {
  const ops: Array<{ type: 'put', key: string, value: Uint8Array }> = [
    { type: 'put', key: 'meta:schema', value: packr.pack(2) },
    { type: 'put', key: 'meta:universe', value: packr.pack(universe) }
  ]
  for (const a of allocations) {
    const key = `${a.network}/${a.containerId}/${a.ifname}`
    ops.push({ type: 'put', key: `alloc:${key}`, value: packr.pack([2, key, offsetBytes(a.offset)]) })
    ops.push({ type: 'put', key: `attach:${key}`, value: packr.pack([a.network, a.containerId, a.ifname, a.podNamespace ?? null, a.podName ?? null, a.allocatedAt]) })
  }
  await db.batch(ops, { sync: true })
}
