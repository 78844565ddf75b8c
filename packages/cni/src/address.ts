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
