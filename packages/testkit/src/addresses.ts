import type { AllocateResponse, PoolAddress } from '@weft/protocol'

/** The one address of an answer from a single pool; throws (failing the test) on any other count. */
export function onlyAddress (r: AllocateResponse): PoolAddress {
  const [first, ...more] = r.addresses
  if (first === undefined || more.length > 0) throw new Error(`expected one address, got ${JSON.stringify(r.addresses)}`)
  return first
}
