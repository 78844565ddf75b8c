/**
 * The store's layout in LevelDB: key names and prefixes, and the encoding of the attachment metadata
 * each allocation carries as its payload. Shared by the store and its migration from older schemas.
 */
import { Packr } from 'msgpackr'
import { decodeAllocation, encodeAllocation } from '@weft/ring'
import type { Allocation } from '@weft/ring'
import { attachmentKey } from './attachment-key.ts'
import { StoreError } from './errors.ts'

/**
 * 6: every FOLD_AFTER records a pool's journal is sealed (`journal-<pool>.sealed.log`) and folded in
 * the background; an agent of schema 5 would not read a sealed file a death left behind, and would
 * hand out again the allocations only it holds, so it must not open the store. A schema-3 to -5
 * store opens in place: only the number changes. 5: allocation-only batches go to a journal file per pool beside LevelDB (store-journal.ts) and each
 * pool's `journal` key holds the last record folded in; an agent that cannot read the journal must
 * not open the store (it would miss the allocations only the journal holds after a crash). 4: pools. `meta:pools` holds each pool's range (`meta:universe` is gone) and `meta:retired` the
 * pools retired here; pool `default` keeps the keys of schema 3, every other pool has them under
 * `pool/<name>/`. 3: one record per allocation, `alloc:<network/containerId/ifname>`: its address
 * and its attachment metadata together. Schema 2 kept the metadata under a second key (`attach:`),
 * schema 1 keyed allocations by containerId/ifname alone.
 */
export const SCHEMA_VERSION = 6

/** What the agent knows about an allocation beyond the core's (key, offset): the payload the core carries. */
export interface AttachmentMeta {
  /** The CNI network's name. */
  readonly network: string
  readonly containerId: string
  readonly ifname: string
  readonly podNamespace?: string
  readonly podName?: string
  /** Milliseconds since the epoch. */
  readonly allocatedAt: number
}

/** The one allocation record: the core's allocation with its metadata, the same object in the core and the store. */
export type StoredAllocation = Allocation<AttachmentMeta>

export const KEY_SCHEMA = 'meta:schema'
/** Schemas 1 to 3: the one range. */
export const KEY_UNIVERSE = 'meta:universe'
export const KEY_POOLS = 'meta:pools'
/** The names of pools retired on this node: never served again. */
export const KEY_RETIRED = 'meta:retired'
export const KEY_RING = 'ring'
export const ALLOC = 'alloc:'
/** Schema 1 and 2 only: an allocation's metadata, beside its `alloc:` record. */
export const ATTACH = 'attach:'
export const ACCEPTOR = 'acceptor:'
export const KEY_NODES_SEEN = 'reclaim:nodes-seen'
/** A pool's last allocation-journal record folded into LevelDB (store-journal.ts). */
export const KEY_JOURNAL = 'journal'

/** Where a pool's keys live: pool `default` where schema 3 had them (so its migration moves nothing), others under their name. */
export function poolPrefix (pool: string): string {
  return pool === 'default' ? '' : `pool/${pool}/`
}

export const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export type BatchOp = { type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }

export function encodeAllocationRecord (a: StoredAllocation): Uint8Array {
  return encodeAllocation({ key: a.key, offset: a.offset, payload: encodeMeta(a.payload) })
}

/** The record at `alloc:<key>`; throws if it is not one, or is another key's. */
export function decodeAllocationRecord (key: string, bytes: Uint8Array): StoredAllocation {
  const a = decodeAllocation(bytes)
  if (a.key !== key) throw new Error(`holds the allocation of "${a.key}"`)
  const payload = decodeMeta(a.payload)
  if (attachmentKey(payload) !== key) throw new Error(`holds the metadata of "${attachmentKey(payload)}"`)
  return { key, offset: a.offset, payload }
}

function encodeMeta (m: AttachmentMeta): Uint8Array {
  return packr.pack([m.network, m.containerId, m.ifname, m.podNamespace ?? null, m.podName ?? null, m.allocatedAt])
}

export function decodeMeta (bytes: Uint8Array): AttachmentMeta {
  const v: unknown = packr.unpack(bytes)
  if (!Array.isArray(v) || v.length !== 6) throw new Error('expected 6 fields')
  const [network, ...rest] = v as unknown[]
  if (typeof network !== 'string') throw new Error('network must be a string')
  return { network, ...metaFields(rest) }
}

/**
 * The fields every schema has kept in the same order: containerId, ifname, podNamespace or null,
 * podName or null, allocatedAt.
 */
export function metaFields (v: readonly unknown[]): Omit<AttachmentMeta, 'network'> {
  const [containerId, ifname, podNamespace, podName, allocatedAt] = v
  if (typeof containerId !== 'string' || typeof ifname !== 'string') throw new Error('containerId and ifname must be strings')
  if (typeof allocatedAt !== 'number') throw new Error('allocatedAt must be a number')
  const optional = (x: unknown, name: string): string | undefined => {
    if (x === null) return undefined
    if (typeof x !== 'string') throw new Error(`${name} must be a string or null`)
    return x
  }
  const ns = optional(podNamespace, 'podNamespace')
  const pod = optional(podName, 'podName')
  return { containerId, ifname, allocatedAt, ...(ns === undefined ? {} : { podNamespace: ns }), ...(pod === undefined ? {} : { podName: pod }) }
}

/** Runs a decoder; any failure becomes a StoreError naming the key. */
export function decoded<T> (key: string, decode: () => T): T {
  try {
    return decode()
  } catch (err) {
    throw new StoreError(`corrupt value at key "${key}": ${(err as Error).message}`)
  }
}

/** The first string after every string that starts with `prefix`. */
export function next (prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}
