/**
 * The agents' messages about retiring a pool, beside the rings' (pool-frame.ts frames them). Pure.
 *  - `holders?` (gossiped): who still holds addresses in the pool?
 *  - `holders` (direct, to the asker): this agent's holders of the pool, and whether it drains it.
 *  - `retired` (gossiped, or direct to an agent that still speaks of the pool): drop the pool.
 */
import { fieldProblem, poolNameProblem } from '@weft/protocol'

export interface Holder {
  readonly network: string
  readonly containerId: string
  readonly ifname: string
  readonly address: string
}

export type RetireMessage =
  | { readonly t: 'holders?', readonly pool: string, readonly id: string }
  | { readonly t: 'holders', readonly pool: string, readonly id: string, readonly serves: boolean, readonly draining: boolean, readonly holders: readonly Holder[] }
  | { readonly t: 'retired', readonly pool: string, readonly id: string }

/** Holders named in one answer; more are counted in the refusal but not listed. */
export const MAX_HOLDERS_LISTED = 100

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeRetire (m: RetireMessage): Uint8Array {
  return encoder.encode(JSON.stringify(m))
}

/** The message, or what is wrong with it. */
export function decodeRetire (bytes: Uint8Array): RetireMessage | string {
  let v: unknown
  try {
    v = JSON.parse(decoder.decode(bytes))
  } catch (err) {
    return `a retire message that is not JSON: ${(err as Error).message}`
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'a retire message that is not an object'
  const o = v as Record<string, unknown>
  if (typeof o.pool !== 'string' || poolNameProblem(o.pool) !== null) return 'a retire message without a pool name'
  if (typeof o.id !== 'string' || o.id.length === 0 || o.id.length > 64) return 'a retire message without an id'
  const { pool, id } = o
  switch (o.t) {
    case 'holders?': return { t: 'holders?', pool, id }
    case 'retired': return { t: 'retired', pool, id }
    case 'holders': {
      if (typeof o.serves !== 'boolean' || typeof o.draining !== 'boolean') return 'a holders answer without serves or draining'
      if (!Array.isArray(o.holders) || o.holders.length > MAX_HOLDERS_LISTED || !o.holders.every(isHolder)) return 'a holders answer with a malformed list'
      return { t: 'holders', pool, id, serves: o.serves, draining: o.draining, holders: o.holders }
    }
    default: return `a retire message of unknown type ${JSON.stringify(String(o.t).slice(0, 20))}`
  }
}

function isHolder (h: unknown): h is Holder {
  if (typeof h !== 'object' || h === null) return false
  const o = h as Record<string, unknown>
  const part = (field: 'network' | 'containerId' | 'ifname'): boolean => typeof o[field] === 'string' && fieldProblem(field, o[field]) === null
  // A gateway is never a holder, so every container id is a pod's, by the attachment rules.
  return part('network') && part('containerId') && part('ifname') && typeof o.address === 'string' && o.address.length > 0 && o.address.length <= 64
}
