import { isIP } from 'node:net'

/** True for a plain IPv4 or IPv6 address (no prefix). */
export const isAddress = (s: string): boolean => isIP(s) !== 0

export const familyOf = (address: string): 4 | 6 => isIP(address) === 6 ? 6 : 4

/** True for `address/prefix` with a prefix that fits the address family. */
export function isCidr (s: string): boolean {
  const slash = s.indexOf('/')
  if (slash < 0) return false
  const address = s.slice(0, slash)
  const prefix = s.slice(slash + 1)
  if (!isAddress(address) || !/^\d{1,3}$/.test(prefix)) return false
  return Number(prefix) <= (familyOf(address) === 6 ? 128 : 32)
}

/** The address part of a CIDR, or the string itself when it has no prefix. */
export const stripPrefix = (s: string): string => s.split('/')[0] ?? s

/** An IPv6 address as a 128-bit number. */
function v6Value (address: string): bigint {
  const [head = '', tail] = address.split('::')
  const groups = (s: string | undefined): string[] => s === undefined || s === '' ? [] : s.split(':')
  const h = groups(head)
  const t = groups(tail)
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return all.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n)
}

/** A 128-bit number as an IPv6 address in canonical form (the URL parser writes RFC 5952's). */
function v6Text (value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt((7 - i) * 16)) & 0xffffn).toString(16))
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1)
}

/**
 * The CIDRs that cover the IPv6 `range` except `address` in it: at each prefix length below the
 * range's, the sibling of the block holding the address, largest first. Routes to them via the
 * address (the gateway) take a pod's traffic to the range through its node, while the gateway stays
 * on the pod's connected route (the kernel takes no next hop that a gatewayed route covers).
 */
export function v6CoverExcept (range: string, address: string): string[] {
  const prefix = Number(range.split('/')[1])
  const value = v6Value(address)
  const out: string[] = []
  for (let len = prefix + 1; len <= 128; len++) {
    const bit = 1n << BigInt(128 - len)
    const block = (value ^ bit) & ~(bit - 1n)
    out.push(`${v6Text(block)}/${len}`)
  }
  return out
}
