/**
 * Address math over one universe CIDR. Addresses are bigint offsets from the universe's first
 * address, so IPv4 and IPv6 (a /64 included) share one representation and nothing is enumerated.
 */
import { AddressError } from './errors.ts'
import type { Cidr, Offset, Range } from './types.ts'

export interface Universe {
  readonly cidr: Cidr
  readonly family: 4 | 6
  /** The first address as a number. */
  readonly first: bigint
  readonly prefixLength: number
  readonly size: bigint
  /**
   * Addresses of the range no pod ever gets besides network and broadcast (a LAN's router, a DHCP
   * range): kept out of every peer's free space, so never handed out, never claimable.
   */
  readonly reserved?: readonly Range[]
}

interface Parsed {
  readonly family: 4 | 6
  readonly value: bigint
}

const BITS = { 4: 32, 6: 128 } as const

function parseIPv4 (text: string): bigint | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let value = 0n
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null
    const n = Number(p)
    if (n > 255) return null
    value = (value << 8n) | BigInt(n)
  }
  return value
}

function parseIPv6 (text: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null
  let groups: string[]
  const halves = text.split('::')
  if (halves.length > 2) return null
  const head = halves[0] === '' ? [] : halves[0]!.split(':')
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : []
  // An embedded IPv4 tail (e.g. ::ffff:10.0.0.1) stands for two groups.
  const expand = (gs: string[]): string[] | null => {
    const last = gs[gs.length - 1]
    if (last === undefined || !last.includes('.')) return gs
    const v4 = parseIPv4(last)
    if (v4 === null) return null
    return [...gs.slice(0, -1), (v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)]
  }
  const h = halves.length === 2 ? head : expand(head)
  const t = expand(tail)
  if (h === null || t === null) return null
  if (halves.length === 2) {
    const missing = 8 - h.length - t.length
    if (missing < 1) return null
    groups = [...h, ...Array<string>(missing).fill('0'), ...t]
  } else {
    groups = h
  }
  if (groups.length !== 8) return null
  let value = 0n
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null
    value = (value << 16n) | BigInt(parseInt(g, 16))
  }
  return value
}

/** Parses an IPv4 or IPv6 address; throws AddressError naming the text. */
export function parseAddress (text: string): Parsed {
  const v4 = parseIPv4(text)
  if (v4 !== null) return { family: 4, value: v4 }
  const v6 = text.includes(':') ? parseIPv6(text) : null
  if (v6 !== null) return { family: 6, value: v6 }
  throw new AddressError(`"${text}" is not an IPv4 or IPv6 address`)
}

/** The address in its one canonical spelling, or null when `text` is not an IPv4 or IPv6 address. */
export function canonicalAddress (text: string): string | null {
  try {
    const { family, value } = parseAddress(text)
    return formatAddress(family, value)
  } catch {
    return null
  }
}

/** Formats a numeric address; IPv6 in RFC 5952 form (lowercase, longest zero run compressed). */
export function formatAddress (family: 4 | 6, value: bigint): string {
  if (family === 4) {
    // One conversion to a number and one string: this runs for every address handed out.
    const v = Number(value & 0xffffffffn)
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`
  }
  const groups: number[] = []
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn))
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

/** Parses the universe CIDR. It must be in canonical form (no host bits) and hold at least 4 addresses. */
export function parseUniverse (text: string): Universe {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(text.trim())
  if (m === null) throw new AddressError(`"${text}" is not a CIDR (expected address/prefix, e.g. 10.32.0.0/12)`)
  const { family, value } = parseAddress(m[1]!)
  const bits = BITS[family]
  const prefixLength = Number(m[2])
  if (prefixLength > bits) throw new AddressError(`"${text}": prefix length ${prefixLength} exceeds ${bits} bits`)
  if (prefixLength > bits - 2) throw new AddressError(`"${text}" is too small: a range needs at least 4 addresses (/${bits - 2} or wider)`)
  const size = 1n << BigInt(bits - prefixLength)
  const first = value & ~(size - 1n) & ((1n << BigInt(bits)) - 1n)
  if (first !== value) {
    throw new AddressError(`"${text}" has host bits set; did you mean ${formatAddress(family, first)}/${prefixLength}?`)
  }
  return { cidr: `${formatAddress(family, first)}/${prefixLength}` as Cidr, family, first, prefixLength, size }
}

/** The offset of an address in the universe; throws AddressError if malformed, of the other family, or outside. */
export function offsetOf (u: Universe, address: string): Offset {
  const { family, value } = parseAddress(address)
  if (family !== u.family) throw new AddressError(`${address} is IPv${family}, the range ${u.cidr} is IPv${u.family}`)
  const off = value - u.first
  if (off < 0n || off >= u.size) throw new AddressError(`${address} is outside the range ${u.cidr}`)
  return off
}

export function addressAt (u: Universe, offset: Offset): string {
  if (offset < 0n || offset >= u.size) throw new AddressError(`offset ${offset} is outside the range ${u.cidr}`)
  return formatAddress(u.family, u.first + offset)
}

/** Network (offset 0), for IPv4 broadcast (the last offset), and the universe's reserved ranges are never handed out. */
export function isReserved (u: Universe, offset: Offset): boolean {
  return offset === 0n || (u.family === 4 && offset === u.size - 1n) || (u.reserved ?? []).some(r => offset >= r.start && offset < r.end)
}

export function reservedOffsets (u: Universe): Offset[] {
  return u.family === 4 ? [0n, u.size - 1n] : [0n]
}

/** Every range never handed out: network, broadcast, and the universe's reserved ranges. */
export function reservedRanges (u: Universe): Range[] {
  return [...reservedOffsets(u).map(o => ({ start: o, end: o + 1n })), ...(u.reserved ?? [])]
}

/** The smallest list of CIDRs that covers exactly [start, end). */
export function rangeToCidrs (u: Universe, r: Range): Cidr[] {
  if (r.start < 0n || r.end > u.size || r.start >= r.end) {
    throw new AddressError(`[${r.start}, ${r.end}) is not a non-empty range inside ${u.cidr}`)
  }
  const bits = BITS[u.family]
  const out: Cidr[] = []
  let at = u.first + r.start
  const end = u.first + r.end
  while (at < end) {
    // The largest aligned block starting at `at` that still fits.
    let size = at === 0n ? 1n << BigInt(bits) : at & -at
    while (size > end - at) size >>= 1n
    const len = bits - (size.toString(2).length - 1)
    out.push(`${formatAddress(u.family, at)}/${len}` as Cidr)
    at += size
  }
  return out
}

/** "10.32.0.0-10.35.255.255" for humans and logs. */
export function formatRange (u: Universe, r: Range): string {
  return `${addressAt(u, r.start)}-${addressAt(u, r.end - 1n)}`
}
