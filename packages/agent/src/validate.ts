/**
 * Validation of socket request bodies. Pure: each function takes the parsed JSON and returns a typed
 * request, or throws a RequestError naming the field and what was wrong.
 */
import { offsetOf } from '@weft/ring'
import type { Offset, Universe } from '@weft/ring'
import { fieldProblem } from '@weft/protocol'
import type { Attachment, AttachmentField, CniRequest, RmpeerRequest } from '@weft/protocol'
import { attachmentKey } from './attachment-key.ts'
import { RequestError } from './errors.ts'

const MAX_K8S_NAME = 253

/** An attachment checked and keyed: the key is what the core and the store index allocations by. */
export interface CheckedAttachment extends Attachment {
  readonly key: string
}

export interface CheckedAllocate extends CheckedAttachment {
  readonly podNamespace?: string
  readonly podName?: string
  readonly offset?: Offset
  /** Also reserve (the first time) and answer this node's gateway of the network. */
  readonly gateway: boolean
}

export interface CheckedGc {
  readonly network: string
  /** The network's attachments to keep, keyed. */
  readonly valid: readonly CheckedAttachment[]
}

export function checkAllocate (body: unknown, universe: Universe): CheckedAllocate {
  const o = object(body, 'body')
  const attachment = checkAttachmentFields(o, '')
  const podNamespace = optionalName(o, 'podNamespace')
  const podName = optionalName(o, 'podName')
  let offset: Offset | undefined
  if (o.address !== undefined) {
    if (typeof o.address !== 'string') throw new RequestError('address', `expected a string, got ${typeOf(o.address)}`)
    try {
      offset = offsetOf(universe, o.address)
    } catch (err) {
      throw new RequestError('address', (err as Error).message)
    }
  }
  if (o.gateway !== undefined && typeof o.gateway !== 'boolean') throw new RequestError('gateway', `expected true or false, got ${typeOf(o.gateway)}`)
  return {
    ...attachment,
    gateway: o.gateway === true,
    ...(podNamespace === undefined ? {} : { podNamespace }),
    ...(podName === undefined ? {} : { podName }),
    ...(offset === undefined ? {} : { offset })
  }
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
