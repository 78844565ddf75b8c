/**
 * The pool a mesh message belongs to. All pools share one topic and one direct protocol: a message
 * of pool `default` travels exactly as the ring's codec wrote it (as before pools, so agents of
 * either kind understand each other), any other pool's in a frame naming the pool:
 * 0xc1 (a byte msgpack never uses, so no codec message starts with it), the name's length, the
 * name, then the codec's bytes. A frame with an empty name carries the agents' own messages about
 * pools (retire-messages.ts) instead. Pure.
 */
import { DEFAULT_POOL, MAX_POOL_NAME, poolNameProblem } from '@weft/protocol'

const FRAME = 0xc1
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A message of the agents themselves about pools (an empty pool name marks it). */
export function frameControl (message: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + message.length)
  out[0] = FRAME
  out.set(message, 2)
  return out
}

export function framePool (pool: string, message: Uint8Array): Uint8Array {
  if (pool === DEFAULT_POOL) return message
  const name = encoder.encode(pool)
  const out = new Uint8Array(2 + name.length + message.length)
  out[0] = FRAME
  out[1] = name.length
  out.set(name, 2)
  out.set(message, 2 + name.length)
  return out
}

/**
 * The pool and the codec's bytes of a received message (pool null: the agents' own message); a
 * string saying what is wrong with a bad frame.
 */
export function unframePool (data: Uint8Array): { pool: string | null, message: Uint8Array } | string {
  if (data[0] !== FRAME) return { pool: DEFAULT_POOL, message: data }
  const length = data[1] ?? 0
  if (length === 0 && data.length >= 2) return { pool: null, message: data.subarray(2) }
  if (length > MAX_POOL_NAME || data.length < 2 + length) return `a pool frame of ${data.length} bytes whose name does not fit`
  let pool: string
  try {
    pool = decoder.decode(data.subarray(2, 2 + length))
  } catch {
    return 'a pool frame whose name is not UTF-8'
  }
  const problem = poolNameProblem(pool)
  if (problem !== null || pool === DEFAULT_POOL) return `a pool frame naming ${problem ?? 'pool default, which is never framed'}`
  return { pool, message: data.subarray(2 + length) }
}
