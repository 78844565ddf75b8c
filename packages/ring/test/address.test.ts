import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { addressAt, formatAddress, isReserved, offsetOf, parseAddress, parseUniverse, rangeToCidrs } from '../src/index.ts'

describe('parseUniverse', () => {
  it('parses IPv4 and IPv6 ranges', () => {
    const u = parseUniverse('10.32.0.0/12')
    expect(u).toMatchObject({ cidr: '10.32.0.0/12', family: 4, prefixLength: 12, size: 1048576n })
    const v6 = parseUniverse('fd00:0:0:1::/64')
    expect(v6).toMatchObject({ cidr: 'fd00:0:0:1::/64', family: 6, size: 1n << 64n })
  })

  it.each([
    ['10.32.0.5/12', /host bits set; did you mean 10.32.0.0\/12/],
    ['10.32.0.0', /not a CIDR/],
    ['10.32.0.0/33', /exceeds 32 bits/],
    ['10.0.0.0/31', /at least 4 addresses/],
    ['300.1.1.1/8', /not an IPv4 or IPv6 address/],
    ['fd00::/127', /at least 4 addresses/],
    ['', /not a CIDR/],
    ['10.01.0.0/16', /not an IPv4 or IPv6 address/]
  ])('rejects %j with a clear error', (text, message) => {
    expect(() => parseUniverse(text)).toThrow(message)
    try { parseUniverse(text) } catch (e) { expect((e as Error).name).toBe('AddressError') }
  })
})

describe('offsets and formatting', () => {
  const u = parseUniverse('10.32.0.0/12')
  it('maps addresses to offsets and back', () => {
    expect(offsetOf(u, '10.32.0.0')).toBe(0n)
    expect(offsetOf(u, '10.47.255.255')).toBe(1048575n)
    expect(addressAt(u, 5n)).toBe('10.32.0.5')
    expect(() => offsetOf(u, '10.48.0.0')).toThrow(/outside the range 10.32.0.0\/12/)
    expect(() => offsetOf(u, 'fd00::1')).toThrow(/IPv6, the range 10.32.0.0\/12 is IPv4/)
  })

  it('reserves network and broadcast for IPv4, only the subnet-router address for IPv6', () => {
    expect(isReserved(u, 0n)).toBe(true)
    expect(isReserved(u, u.size - 1n)).toBe(true)
    expect(isReserved(u, 1n)).toBe(false)
    const v6 = parseUniverse('fd00::/64')
    expect(isReserved(v6, v6.size - 1n)).toBe(false)
  })

  it('formats IPv6 in RFC 5952 form', () => {
    expect(formatAddress(6, parseAddress('2001:DB8:0:0:0:0:0:1').value)).toBe('2001:db8::1')
    expect(formatAddress(6, parseAddress('::ffff:10.0.0.1').value)).toBe('::ffff:a00:1')
    expect(formatAddress(6, 0n)).toBe('::')
    expect(formatAddress(6, parseAddress('1:0:0:2:0:0:0:3').value)).toBe('1:0:0:2::3')
  })

  it('formats any IPv4 address as four decimal octets, and round-trips it', () => {
    expect(formatAddress(4, 0n)).toBe('0.0.0.0')
    expect(formatAddress(4, 0xffffffffn)).toBe('255.255.255.255')
    expect(formatAddress(4, 0x0a200001n)).toBe('10.32.0.1')
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), v => {
      const text = formatAddress(4, v)
      expect(text).toBe([24n, 16n, 8n, 0n].map(s => String((v >> s) & 255n)).join('.'))
      expect(parseAddress(text)).toEqual({ family: 4, value: v })
    }))
  })

  it('round-trips any IPv6 address', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), v => {
      expect(parseAddress(formatAddress(6, v)).value).toBe(v)
    }))
  })

  it('decomposes a range into the fewest CIDRs, covering it exactly', () => {
    expect(rangeToCidrs(u, { start: 0n, end: u.size })).toEqual(['10.32.0.0/12'])
    expect(rangeToCidrs(u, { start: 1n, end: 4n })).toEqual(['10.32.0.1/32', '10.32.0.2/31'])
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: u.size - 1n }), fc.bigInt({ min: 1n, max: 5000n }), (start, len) => {
      const end = start + len > u.size ? u.size : start + len
      const cidrs = rangeToCidrs(u, { start, end })
      let at = start
      for (const c of cidrs) {
        const [a, p] = c.split('/')
        expect(offsetOf(u, a!)).toBe(at)
        at += 1n << BigInt(32 - Number(p))
      }
      expect(at).toBe(end)
    }))
  })
})
