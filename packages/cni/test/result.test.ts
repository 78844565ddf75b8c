import { describe, expect, it } from 'vitest'
import { CniError, formatResult } from '../src/index.ts'
import { v6CoverExcept } from '../src/address.ts'
import type { IpamResult } from '../src/index.ts'

const v4 = { address: '10.99.0.5', prefixLength: 16, gateway: '10.99.0.1' }
const v6 = { address: 'fd00::5', prefixLength: 104, gateway: 'fd00::1' }
const r: IpamResult = { ips: [v4], routes: [{ dst: '0.0.0.0/0' }], dns: {} }
const dual: IpamResult = { ips: [v4, v6], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }], dns: { nameservers: ['10.96.0.10'] } }

describe('formatResult', () => {
  it('prints 1.x without version fields', () => {
    for (const v of ['1.0.0', '1.1.0'] as const) {
      expect(formatResult(v, r)).toEqual({
        cniVersion: v, ips: [{ address: '10.99.0.5/16', gateway: '10.99.0.1' }], routes: [{ dst: '0.0.0.0/0' }], dns: {}
      })
    }
  })

  it('prints 0.3.x and 0.4.0 with the IP version', () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
      expect(formatResult(v, r)).toEqual({
        cniVersion: v, ips: [{ version: '4', address: '10.99.0.5/16', gateway: '10.99.0.1' }], routes: [{ dst: '0.0.0.0/0' }], dns: {}
      })
    }
  })

  it('prints 0.1.0 and 0.2.0 in the ip4/ip6 form', () => {
    for (const v of ['0.1.0', '0.2.0'] as const) {
      expect(formatResult(v, r)).toEqual({ cniVersion: v, ip4: { ip: '10.99.0.5/16', gateway: '10.99.0.1', routes: [{ dst: '0.0.0.0/0' }] }, dns: {} })
    }
    expect(formatResult('0.2.0', { ips: [{ address: 'fd00::5', prefixLength: 64 }], routes: [{ dst: '::/0' }], dns: { nameservers: ['fd00::53'] } }))
      .toEqual({ cniVersion: '0.2.0', ip6: { ip: 'fd00::5/64', routes: [{ dst: '::/0' }] }, dns: { nameservers: ['fd00::53'] } })
  })

  it('omits an absent gateway and an empty route list, keeps dns', () => {
    expect(formatResult('0.4.0', { ips: [{ address: 'fd00::5', prefixLength: 64 }], routes: [], dns: {} }))
      .toEqual({ cniVersion: '0.4.0', ips: [{ version: '6', address: 'fd00::5/64' }], dns: {} })
  })

  describe('dual-stack', () => {
    it('prints one ips entry per pool, in order, each with its own gateway, in every version from 0.3.0', () => {
      for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
        expect(formatResult(v, dual)).toEqual({
          cniVersion: v,
          ips: [{ version: '4', address: '10.99.0.5/16', gateway: '10.99.0.1' }, { version: '6', address: 'fd00::5/104', gateway: 'fd00::1' }],
          routes: dual.routes,
          dns: dual.dns
        })
      }
      for (const v of ['1.0.0', '1.1.0'] as const) {
        expect(formatResult(v, { ...dual, ips: [v6, v4] })).toEqual({
          cniVersion: v,
          ips: [{ address: 'fd00::5/104', gateway: 'fd00::1' }, { address: '10.99.0.5/16', gateway: '10.99.0.1' }],
          routes: dual.routes,
          dns: dual.dns
        })
      }
    })

    it('prints ip4 and ip6 for 0.1.0 and 0.2.0, each with the routes of its family', () => {
      for (const v of ['0.1.0', '0.2.0'] as const) {
        expect(formatResult(v, dual)).toEqual({
          cniVersion: v,
          ip4: { ip: '10.99.0.5/16', gateway: '10.99.0.1', routes: [{ dst: '0.0.0.0/0' }] },
          ip6: { ip: 'fd00::5/104', gateway: 'fd00::1', routes: [{ dst: '::/0', gw: 'fd00::1' }] },
          dns: dual.dns
        })
      }
    })

    it('refuses, code 7, two addresses of one family in 0.1.0 and 0.2.0, which carry one each', () => {
      const twoV4: IpamResult = { ips: [v4, { address: '10.100.0.5', prefixLength: 16 }], routes: [], dns: {} }
      for (const v of ['0.1.0', '0.2.0'] as const) {
        expect(() => formatResult(v, twoV4)).toThrow(CniError)
        expect(() => formatResult(v, twoV4)).toThrow(`config version ${v} carries one IPv4 address, but the pools gave 10.99.0.5/16, 10.100.0.5/16: use cniVersion 0.3.0 or later`)
      }
      expect(formatResult('0.3.0', twoV4).ips).toHaveLength(2)
    })
  })
})

describe('v6CoverExcept', () => {
  it('covers the range except the one address, one CIDR per prefix bit, largest first', () => {
    expect(v6CoverExcept('fd00::/126', 'fd00::1')).toEqual(['fd00::2/127', 'fd00::/128'])
    const cover = v6CoverExcept('fd00:10:32::/104', 'fd00:10:32::1')
    expect(cover).toHaveLength(24)
    expect(cover[0]).toBe('fd00:10:32::80:0/105')
    expect(cover.at(-1)).toBe('fd00:10:32::/128')
    // Every block is aligned, inside the range, apart from the others, and their sizes add up to all but one.
    const size = cover.reduce((n, c) => n + (1n << BigInt(128 - Number(c.split('/')[1]))), 0n)
    expect(size).toBe((1n << 24n) - 1n)
  })
})
