/**
 * Schemas 1 and 2 -> the current one, run when the agent opens an older store. Schemas 1 and 2 kept an allocation
 * under two keys, `alloc:` (key, offset) and `attach:` (its metadata); schema 1 also keyed them by
 * `containerId/ifname` alone, so a GC on one network released every other network's. Every
 * allocation becomes one `alloc:network/containerId/ifname` record holding both, in one atomic synced
 * batch with the new schema number: either all of it is migrated or nothing is.
 */
import { decodeBareAllocation } from '@weft/ring'
import type { Level } from 'level'
import { fieldProblem } from '@weft/protocol'
import { attachmentKey } from './attachment-key.ts'
import { GATEWAY_CONTAINER } from './gateway.ts'
import { StoreError } from './errors.ts'
import { ALLOC, ATTACH, decodeMeta, decoded, encodeAllocationRecord, metaFields, next, packr } from './store-layout.ts'
import type { AttachmentMeta, BatchOp } from './store-layout.ts'

/**
 * The CNI plugin of schema 1 reserved a network's gateway as container `weft-gateway.<network>`,
 * interface `gateway`: that reservation becomes this node's gateway of its own network, so the
 * bridge keeps its address.
 */
const GATEWAY_PREFIX = 'weft-gateway.'
const GATEWAY_IFNAME = 'gateway'

/**
 * Migrates a store of schema `from` (1 or 2) in place; `network` is the network of every schema-1
 * allocation not a gateway's; `finish` (the current schema's meta) joins the same batch. Returns how
 * many allocations moved.
 */
export async function migrate (db: Level<string, Uint8Array>, from: number, network: string, finish: readonly BatchOp[]): Promise<number> {
  const metaOf = from === 1 ? schema1Meta(network) : schema2Meta
  const ops: BatchOp[] = []
  const metas = new Map<string, AttachmentMeta>()
  for await (const [key, value] of db.iterator({ gte: ATTACH, lt: next(ATTACH) })) {
    metas.set(key.slice(ATTACH.length), metaOf(key, value))
    ops.push({ type: 'del', key })
  }
  let moved = 0
  for await (const [key, value] of db.iterator({ gte: ALLOC, lt: next(ALLOC) })) {
    const old = key.slice(ALLOC.length)
    const a = decoded(key, () => decodeBareAllocation(value))
    if (a.key !== old) throw new StoreError(`corrupt value at key "${key}": holds the allocation of "${a.key}"`)
    const payload = metas.get(old)
    if (payload === undefined) throw new StoreError(`corrupt store: key "${ATTACH}${old}" is missing for allocation "${key}"`)
    metas.delete(old)
    const to = attachmentKey(payload)
    ops.push({ type: 'del', key }, { type: 'put', key: ALLOC + to, value: encodeAllocationRecord({ key: to, offset: a.offset, payload }) })
    moved++
  }
  // Metadata of no allocation: an address would be lost with it, so nothing is changed.
  const [orphan] = metas.keys()
  if (orphan !== undefined) throw new StoreError(`corrupt store: key "${ATTACH}${orphan}" holds metadata of no allocation (key "${ALLOC}${orphan}" is missing)`)
  ops.push(...finish)
  await db.batch(ops, { sync: true })
  return moved
}

type MetaOf = (key: string, value: Uint8Array) => AttachmentMeta

/** Schema 2: `attach:network/containerId/ifname` = the six fields of today's metadata. */
const schema2Meta: MetaOf = (key, value) => {
  const meta = decoded(key, () => decodeMeta(value))
  if (ATTACH + attachmentKey(meta) !== key) throw new StoreError(`corrupt value at key "${key}": holds the metadata of ${attachmentKey(meta)}`)
  return meta
}

/** Schema 1: `attach:containerId/ifname` = five fields, no network; gateways named by their container. */
function schema1Meta (network: string): MetaOf {
  const isGateway = (containerId: string, ifname: string): boolean =>
    ifname === GATEWAY_IFNAME && containerId.startsWith(GATEWAY_PREFIX) && fieldProblem('network', containerId.slice(GATEWAY_PREFIX.length)) === null
  return (key, value) => {
    const fields = decoded(key, () => {
      const v: unknown = packr.unpack(value)
      if (!Array.isArray(v) || v.length !== 5) throw new Error('expected the 5 fields of schema 1')
      return metaFields(v)
    })
    const { containerId, ifname } = fields
    if (containerId.includes('/') || ifname.includes('/')) throw new StoreError(`corrupt store: "${key}" is not a schema-1 key (containerId/ifname)`)
    if (`${ATTACH}${containerId}/${ifname}` !== key) throw new StoreError(`corrupt value at key "${key}": holds the metadata of ${containerId}/${ifname}`)
    return isGateway(containerId, ifname)
      ? { ...fields, network: containerId.slice(GATEWAY_PREFIX.length), containerId: GATEWAY_CONTAINER }
      : { ...fields, network }
  }
}
