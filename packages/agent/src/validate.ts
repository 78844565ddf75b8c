/**
 * Validation of socket request bodies. Pure: each function takes the parsed JSON and returns a typed
 * request, or throws a RequestError naming the field and what was wrong.
 */
import { offsetOf } from '@weft/ring'
import type { Offset, Universe } from '@weft/ring'
import { ApiError, fieldProblem, poolNameProblem } from '@weft/protocol'
import type { Attachment, AttachmentField, CniRequest, RetirePoolRequest, RmpeerRequest } from '@weft/protocol'
import { attachmentKey, keyOf } from './attachment-key.ts'
import { RequestError } from './errors.ts'
import type { PoolCatalog } from './pool.ts'

const MAX_K8S_NAME = 253

/** An attachment checked and keyed: the key is what the core and the store index allocations by. */
export interface CheckedAttachment extends Attachment {
  readonly key: string
}

/** One pool of an allocation, and the address wanted from it if one was asked for. */
export interface PoolRequest {
  readonly pool: string
  readonly offset?: Offset
}

export interface CheckedAllocate extends CheckedAttachment {
  readonly podNamespace?: string
  readonly podName?: string
  /** One per pool asked for, in the request's order; never empty, no pool twice. */
  readonly pools: readonly PoolRequest[]
  /** Also reserve (the first time) and answer this node's gateway of the network in each pool. */
  readonly gateway: boolean
}

export interface CheckedGc {
  readonly network: string
  /** The network's attachments to keep, keyed. */
  readonly valid: readonly CheckedAttachment[]
}

export function checkAllocate (body: unknown, catalog: PoolCatalog): CheckedAllocate {
  const o = object(body, 'body')
  const network = field(o, 'network', '')
  const containerId = field(o, 'containerId', '')
  const ifname = field(o, 'ifname', '')
  const podNamespace = optionalName(o, 'podNamespace')
  const podName = optionalName(o, 'podName')
  if (o.address !== undefined) throw new RequestError('address', 'not a field any more: ask for addresses in "addresses", one per pool')
  if (o.gateway !== undefined && typeof o.gateway !== 'boolean') throw new RequestError('gateway', `expected true or false, got ${typeOf(o.gateway)}`)
  // Built in one literal (on every allocation's path): no spread copies of the attachment.
  return {
    network,
    containerId,
    ifname,
    key: keyOf(network, containerId, ifname),
    pools: poolRequests(o, catalog),
    gateway: o.gateway === true,
    podNamespace,
    podName
  }
}

/** The pools an allocation asks of, with the address wanted in each where one is; the defaults' list is made once. */
function poolRequests (o: Record<string, unknown>, catalog: PoolCatalog): readonly PoolRequest[] {
  if (o.pools === undefined && o.addresses === undefined) {
    let requests = DEFAULT_REQUESTS.get(catalog.defaults)
    if (requests === undefined) DEFAULT_REQUESTS.set(catalog.defaults, requests = catalog.defaults.map(pool => ({ pool })))
    return requests
  }
  const names = o.pools === undefined ? catalog.defaults : checkPools(o.pools, catalog)
  const offsets = o.addresses === undefined ? new Map<string, Offset>() : checkAddresses(o.addresses, names, catalog)
  return names.map(pool => {
    const offset = offsets.get(pool)
    return offset === undefined ? { pool } : { pool, offset }
  })
}

const DEFAULT_REQUESTS = new WeakMap<readonly string[], readonly PoolRequest[]>()

/** Pool names, each once, each served here; a well-formed name this agent does not serve is `unknown-pool`. */
function checkPools (v: unknown, catalog: PoolCatalog): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new RequestError('pools', `expected a non-empty array of pool names, got ${typeOf(v)}`)
  const seen = new Set<string>()
  return v.map((name: unknown, i: number) => {
    if (typeof name !== 'string') throw new RequestError(`pools[${i}]`, `expected a pool name, got ${typeOf(name)}`)
    const problem = poolNameProblem(name)
    if (problem !== null) throw new RequestError(`pools[${i}]`, problem)
    if (seen.has(name)) throw new RequestError(`pools[${i}]`, `pool "${name}" is named twice`)
    seen.add(name)
    if (catalog.universe(name) === undefined) {
      throw new ApiError(404, 'unknown-pool', `pools[${i}]: this agent serves no pool "${name}" (it serves ${catalog.names.join(', ')})`)
    }
    return name
  })
}

/** Requested addresses: each inside one of the pools asked for, at most one per pool. */
function checkAddresses (v: unknown, pools: readonly string[], catalog: PoolCatalog): Map<string, Offset> {
  if (!Array.isArray(v)) throw new RequestError('addresses', `expected an array of addresses, got ${typeOf(v)}`)
  const offsets = new Map<string, Offset>()
  v.forEach((address: unknown, i: number) => {
    if (typeof address !== 'string') throw new RequestError(`addresses[${i}]`, `expected a string, got ${typeOf(address)}`)
    const found = inPool(address, pools, catalog)
    if ('problem' in found) throw new RequestError(`addresses[${i}]`, found.problem)
    if (offsets.has(found.pool)) throw new RequestError(`addresses[${i}]`, `${address}: a second address in pool "${found.pool}"; at most one per pool`)
    offsets.set(found.pool, found.offset)
  })
  return offsets
}

function inPool (address: string, pools: readonly string[], catalog: PoolCatalog): { pool: string, offset: Offset } | { problem: string } {
  const reasons: string[] = []
  for (const pool of pools) {
    const universe = catalog.universe(pool)
    if (universe === undefined) continue
    let offset: Offset
    try {
      offset = offsetOf(universe, address)
    } catch (err) {
      reasons.push((err as Error).message)
      continue
    }
    // Reserved addresses (a LAN's router, a DHCP range) are no pod's, asked for or not.
    if ((universe.reserved ?? []).some(r => offset >= r.start && offset < r.end)) return { problem: `${address} is reserved in pool ${pool}: no pod gets it` }
    return { pool, offset }
  }
  return { problem: pools.length === 1 ? (reasons[0] ?? address) : `${address} is in none of the pools asked for (${reasons.join('; ')})` }
}

export function checkAttachment (body: unknown): CheckedAttachment {
  return checkAttachmentFields(object(body, 'body'), '')
}

/** The network is given once; the listed attachments are that network's. */
export function checkGc (body: unknown): CheckedGc {
  const o = object(body, 'body')
  const network = field(o, 'network', '')
  if (!Array.isArray(o.valid)) throw new RequestError('valid', `expected an array of {containerId, ifname}, got ${typeOf(o.valid)}`)
  const valid = o.valid.map((item: unknown, i: number) => checkAttachmentFields({ ...object(item, `valid[${i}]`), network }, `valid[${i}].`))
  return { network, valid }
}

export function checkRmpeer (body: unknown): Required<RmpeerRequest> {
  const o = object(body, 'body')
  if (typeof o.peer !== 'string') throw new RequestError('peer', `expected a peer id or nickname, got ${typeOf(o.peer)}`)
  if (o.peer.length === 0 || o.peer.length > 256) throw new RequestError('peer', 'expected 1 to 256 characters')
  if (o.force !== undefined && typeof o.force !== 'boolean') throw new RequestError('force', `expected true or false, got ${typeOf(o.force)}`)
  return { peer: o.peer, force: o.force === true }
}

export function checkRetirePool (body: unknown): RetirePoolRequest {
  const o = object(body, 'body')
  if (typeof o.pool !== 'string') throw new RequestError('pool', `expected a pool name, got ${typeOf(o.pool)}`)
  const problem = poolNameProblem(o.pool)
  if (problem !== null) throw new RequestError('pool', problem)
  return { pool: o.pool }
}

/** The longest a plugin may wait for the agent (an hour, the plugin's own limit). */
const MAX_DEADLINE_MS = 3_600_000

/** /v1/cni: the plugin's CNI_* variables, its stdin, and how long it waits. */
export function checkCni (body: unknown): CniRequest {
  const o = object(body, 'body')
  const env = object(o.env, 'env')
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CNI_')) throw new RequestError('env', `${JSON.stringify(name.slice(0, 80))} is not a CNI_ variable`)
    if (typeof value !== 'string') throw new RequestError(`env.${name}`, `expected a string, got ${typeOf(value)}`)
  }
  if (typeof o.stdin !== 'string') throw new RequestError('stdin', `expected a string, got ${typeOf(o.stdin)}`)
  const { deadlineMs } = o
  if (deadlineMs === undefined) return { env: env as Record<string, string>, stdin: o.stdin }
  if (typeof deadlineMs !== 'number' || !Number.isSafeInteger(deadlineMs) || deadlineMs < 1 || deadlineMs > MAX_DEADLINE_MS) {
    throw new RequestError('deadlineMs', `expected milliseconds from 1 to ${MAX_DEADLINE_MS}`)
  }
  return { env: env as Record<string, string>, stdin: o.stdin, deadlineMs }
}

/** /v1/prime takes no fields; an empty body or an object is fine. */
export function checkPrime (body: unknown): void {
  if (body !== undefined) object(body, 'body')
}

function checkAttachmentFields (o: Record<string, unknown>, prefix: string): CheckedAttachment {
  const a: Attachment = { network: field(o, 'network', ''), containerId: field(o, 'containerId', prefix), ifname: field(o, 'ifname', prefix) }
  return { ...a, key: attachmentKey(a) }
}

/** One part of an attachment, by the protocol's rules; `prefix` places it in the body for the error. */
function field (o: Record<string, unknown>, name: AttachmentField, prefix: string): string {
  const v = o[name]
  if (typeof v !== 'string') throw new RequestError(`${prefix}${name}`, `expected a string, got ${typeOf(v)}`)
  const problem = fieldProblem(name, v)
  if (problem !== null) throw new RequestError(`${prefix}${name}`, problem)
  return v
}

function optionalName (o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new RequestError(field, `expected a string, got ${typeOf(v)}`)
  if (v.length > MAX_K8S_NAME) throw new RequestError(field, `longer than ${MAX_K8S_NAME} characters`)
  return v
}

function object (x: unknown, field: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new RequestError(field, `expected a JSON object, got ${typeOf(x)}`)
  return x as Record<string, unknown>
}

function typeOf (x: unknown): string {
  if (x === null) return 'null'
  if (x === undefined) return 'nothing'
  if (Array.isArray(x)) return 'an array'
  return `a ${typeof x}`
}
