import { describe, expect, it } from 'vitest'
import { formatResult } from '../src/index.ts'
import type { IpamResult } from '../src/index.ts'

const r: IpamResult = { address: '10.99.0.5', prefixLength: 16, gateway: '10.99.0.1', routes: [{ dst: '0.0.0.0/0' }], dns: {} }

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
    expect(formatResult('0.2.0', { address: 'fd00::5', prefixLength: 64, routes: [], dns: { nameservers: ['fd00::53'] } }))
      .toEqual({ cniVersion: '0.2.0', ip6: { ip: 'fd00::5/64' }, dns: { nameservers: ['fd00::53'] } })
  })

  it('omits an absent gateway and an empty route list, keeps dns', () => {
    expect(formatResult('0.4.0', { address: 'fd00::5', prefixLength: 64, routes: [], dns: {} }))
      .toEqual({ cniVersion: '0.4.0', ips: [{ version: '6', address: 'fd00::5/64' }], dns: {} })
  })
})
