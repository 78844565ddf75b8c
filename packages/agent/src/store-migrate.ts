/**
 * Schema 1 -> 2, run when the agent opens a schema-1 store. Schema 1 keyed allocations by
 * `containerId/ifname` alone, so a GC on one network released every other network's. Every
 * allocation and its metadata move to `network/containerId/ifname`, in one atomic synced batch with
 * the new schema number: either all of it is migrated or nothing is.
 */
import { decodeAllocation, encodeAllocation } from '@weft/ring'
import type { Level } from 'level'
import { fieldProblem } from '@weft/protocol'
import { attachmentKey } from './attachment-key.ts'
import { GATEWAY_CONTAINER } from './gateway.ts'
import { StoreError } from './errors.ts'
import { ALLOC, ATTACH, decoded, encodeMeta, metaFields, next, packr } from './store-layout.ts'
import type { AttachmentMeta, BatchOp } from './store-layout.ts'

/**
 * The CNI plugin of schema 1 reserved a network's gateway as container `weft-gateway.<network>`,
 * interface `gateway`: that reservation becomes this node's gateway of its own network, so the
 * bridge keeps its address.
 */
const GATEWAY_PREFIX = 'weft-gateway.'
const GATEWAY_IFNAME = 'gateway'

/**
 * Migrates a schema-1 store in place; `network` is the network of every allocation not a gateway's;
 * `finish` (the current schema's meta) joins the same batch. Returns how many moved.
 */
export async function migrateFromSchema1 (db: Level<string, Uint8Array>, network: string, finish: readonly BatchOp[]): Promise<number> {
  const ops: BatchOp[] = []
  const isGateway = (containerId: string, ifname: string): boolean =>
    ifname === GATEWAY_IFNAME && containerId.startsWith(GATEWAY_PREFIX) && fieldProblem('network', containerId.slice(GATEWAY_PREFIX.length)) === null
  const networkOf = (containerId: string, ifname: string): string => isGateway(containerId, ifname) ? containerId.slice(GATEWAY_PREFIX.length) : network
  const containerOf = (containerId: string, ifname: string): string => isGateway(containerId, ifname) ? GATEWAY_CONTAINER : containerId
  const newKey = (oldKey: string, storeKey: string): string => {
    const slash = oldKey.indexOf('/')
    if (slash <= 0 || slash !== oldKey.lastIndexOf('/')) throw new StoreError(`corrupt store: "${storeKey}" is not a schema-1 key (containerId/ifname)`)
    const containerId = oldKey.slice(0, slash)
    const ifname = oldKey.slice(slash + 1)
    return attachmentKey({ network: networkOf(containerId, ifname), containerId: containerOf(containerId, ifname), ifname })
  }
  let moved = 0
  for await (const [key, value] of db.iterator({ gte: ALLOC, lt: next(ALLOC) })) {
    const old = key.slice(ALLOC.length)
    const a = decoded(key, () => decodeAllocation(value))
    if (a.key !== old) throw new StoreError(`corrupt value at key "${key}": holds the allocation of "${a.key}"`)
    const to = newKey(old, key)
    ops.push({ type: 'del', key }, { type: 'put', key: ALLOC + to, value: encodeAllocation({ key: to, offset: a.offset }) })
    moved++
  }
  for await (const [key, value] of db.iterator({ gte: ATTACH, lt: next(ATTACH) })) {
    const old = key.slice(ATTACH.length)
    const fields = decoded(key, () => {
      const v: unknown = packr.unpack(value)
      if (!Array.isArray(v) || v.length !== 5) throw new Error('expected the 5 fields of schema 1')
      return metaFields(v)
    })
    if (`${fields.containerId}/${fields.ifname}` !== old) throw new StoreError(`corrupt value at key "${key}": holds the metadata of ${fields.containerId}/${fields.ifname}`)
    const meta: AttachmentMeta = { network: networkOf(fields.containerId, fields.ifname), ...fields, containerId: containerOf(fields.containerId, fields.ifname) }
    ops.push({ type: 'del', key }, { type: 'put', key: ATTACH + newKey(old, key), value: encodeMeta(meta) })
  }
  ops.push(...finish)
  await db.batch(ops, { sync: true })
  return moved
}
