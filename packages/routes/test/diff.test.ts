import { describe, expect, it } from 'vitest'
import { asPeerId } from '@weft/ring'
import type { Cidr } from '@weft/ring'
import { diff } from '../src/diff.ts'
import type { DesiredState, ObservedState, VxlanPlan } from '../src/index.ts'

const P = asPeerId('peer-b')
const route = (dst: string, via = '192.0.2.2') => ({ dst: dst as Cidr, via, onlink: false, peer: P })
const want = (over: Partial<DesiredState> = {}): DesiredState =>
  ({ families: [4], bridges: ['weft0'], bridgeMac: null, routes: [], vxlan: null, sysctls: [], unroutable: [], ...over })
const D = '0a:62:c6:12:4d:01'
/** A bridge the agent made, or the plugin pinned: its MAC is kept. */
const pinnedUp = { up: true, mac: D, pinned: true }
const have = (over: Partial<ObservedState> = {}): ObservedState =>
  ({ routes: [], bridges: new Map([['weft0', pinnedUp]]), vxlan: null, neighbours: [], fdb: [], sysctls: new Map(), ...over })
const tunnel: VxlanPlan = { device: 'weft-vxlan', vni: 6784, port: 6784, local: '192.0.2.1', mac: '0a:77:c0:00:02:01', mtu: 1450, peers: [{ address: '192.0.2.2', mac: '0a:77:c0:00:02:02' }], linkLocals: [] }
const held = { vni: 6784, port: 6784, local: '192.0.2.1', learning: false, mac: '0a:77:c0:00:02:01', mtu: 1450, up: true }

describe('the diff', () => {
  it('changes nothing when the kernel holds the plan, a host route printed without its /32 included', () => {
    const c = diff(want({ routes: [route('10.32.0.5/32'), route('10.40.0.0/13')], sysctls: [{ path: 'net/ipv4/ip_forward', value: '1' }] }),
      have({ routes: [{ dst: '10.32.0.5', gateway: '192.0.2.2', onlink: false }, { dst: '10.40.0.0/13', gateway: '192.0.2.2', dev: 'eth0', onlink: false }], sysctls: new Map([['net/ipv4/ip_forward', '1']]) }))
    expect(c).toEqual({ ip: [], bridge: [], sysctls: [] })
  })

  it('makes a missing bridge with the MAC derived from the node, so it never floats with its ports', () => {
    const c = diff(want({ bridgeMac: D }), have({ bridges: new Map() }))
    expect(c.ip).toEqual([`link add weft0 address ${D} type bridge`, 'link set weft0 up'])
  })

  it('pins the MAC of a bridge the plugin made first, with no port (all-zero) or with ports (floating)', () => {
    for (const mac of ['00:00:00:00:00:00', 'fe:13:35:17:38:7a']) {
      expect(diff(want({ bridgeMac: D }), have({ bridges: new Map([['weft0', { up: true, mac, pinned: false }]]) })).ip)
        .toEqual([`link set dev weft0 address ${D}`])
    }
  })

  it('leaves a pinned MAC as it is, though not the derived one: the pods\' cached results name it', () => {
    expect(diff(want({ bridgeMac: D }), have({ bridges: new Map([['weft0', { up: true, mac: 'fe:13:35:17:38:7a', pinned: true }]]) })).ip).toEqual([])
  })

  it('without a node address, pins a floating bridge to the MAC it has, and cannot pin one with no MAC', () => {
    expect(diff(want(), have({ bridges: new Map([['weft0', { up: false, mac: 'fe:13:35:17:38:7a', pinned: false }]]) })).ip)
      .toEqual(['link set dev weft0 address fe:13:35:17:38:7a', 'link set weft0 up'])
    expect(diff(want(), have({ bridges: new Map([['weft0', { up: true, mac: '00:00:00:00:00:00', pinned: false }]]) })).ip).toEqual([])
  })

  it('makes each missing pod bridge and sets up one that is down, leaving one that is up', () => {
    const c = diff(want({ bridges: ['weft0', 'weft1', 'weft2'], bridgeMac: D }),
      have({ bridges: new Map([['weft0', pinnedUp], ['weft2', { ...pinnedUp, up: false }]]) }))
    expect(c.ip).toEqual([`link add weft1 address ${D} type bridge`, 'link set weft1 up', 'link set weft2 up'])
  })

  it('deletes its stale routes, replaces missing or changed ones, makes a missing bridge, writes changed settings', () => {
    const c = diff(want({ routes: [route('10.40.0.0/13'), route('10.48.0.0/13')], sysctls: [{ path: 'net/ipv4/ip_forward', value: '1' }] }),
      have({ bridges: new Map(), routes: [{ dst: '10.40.0.0/13', gateway: '192.0.2.9', onlink: false }, { dst: '10.56.0.0/13', gateway: '192.0.2.3', onlink: false }], sysctls: new Map([['net/ipv4/ip_forward', '0']]) }))
    expect(c.ip).toEqual([
      'link add weft0 type bridge', 'link set weft0 up',
      'route del 10.56.0.0/13 proto 157',
      'route replace 10.40.0.0/13 via 192.0.2.2 proto 157', 'route replace 10.48.0.0/13 via 192.0.2.2 proto 157'
    ])
    expect(c.sysctls).toEqual([{ path: 'net/ipv4/ip_forward', value: '1' }])
  })

  it('makes the tunnel again when its id, port, local end or learning differ, with all its entries', () => {
    for (const wrong of [{ vni: 1 }, { port: 4789 }, { local: '192.0.2.7' }, { learning: true }]) {
      const c = diff(want({ vxlan: tunnel }), have({ vxlan: { ...held, ...wrong }, neighbours: [{ dst: '192.0.2.2', lladdr: '0a:77:c0:00:02:02', permanent: true }], fdb: [{ mac: '0a:77:c0:00:02:02', dst: '192.0.2.2' }] }))
      expect(c.ip).toEqual([
        'link del weft-vxlan',
        'link add weft-vxlan address 0a:77:c0:00:02:01 mtu 1450 type vxlan id 6784 local 192.0.2.1 dstport 6784 nolearning',
        'link set weft-vxlan up',
        'neigh replace 192.0.2.2 lladdr 0a:77:c0:00:02:02 dev weft-vxlan nud permanent'
      ])
      expect(c.bridge).toEqual(['fdb append 0a:77:c0:00:02:02 dev weft-vxlan dst 192.0.2.2'])
    }
  })

  it('removes tunnel entries of peers gone, fixes the MTU in place, and drops the tunnel in direct mode', () => {
    const c = diff(want({ vxlan: tunnel }), have({
      vxlan: { ...held, mtu: 1500 },
      neighbours: [{ dst: '192.0.2.2', lladdr: '0a:77:c0:00:02:02', permanent: true }, { dst: '192.0.2.9', lladdr: '0a:77:c0:00:02:09', permanent: true }, { dst: '192.0.2.8', lladdr: null, permanent: false }],
      fdb: [{ mac: '0a:77:c0:00:02:02', dst: '192.0.2.2' }, { mac: '0a:77:c0:00:02:09', dst: '192.0.2.9' }]
    }))
    expect(c.ip).toEqual(['link set dev weft-vxlan address 0a:77:c0:00:02:01 mtu 1450', 'neigh del 192.0.2.9 dev weft-vxlan'])
    expect(c.bridge).toEqual(['fdb del 0a:77:c0:00:02:09 dev weft-vxlan dst 192.0.2.9'])
    expect(diff(want(), have({ vxlan: held })).ip).toEqual(['link del weft-vxlan'])
  })

  it('handles both families: IPv6 host routes printed without /128, an IPv6 next hop of an IPv4 route, link-local neighbours', () => {
    const r6 = { dst: 'fd00::5/128' as Cidr, via: 'fe80::877:c0ff:fe00:202', dev: 'weft-vxlan', onlink: true, peer: P }
    const r4 = { dst: '10.32.0.0/16' as Cidr, via: '2001:db8::2', dev: 'weft-vxlan', onlink: true, peer: P }
    const ll = { address: 'fe80::877:c0ff:fe00:202', mac: '0a:77:c0:00:02:02' }
    const c = diff(want({ families: [4, 6], routes: [r6, r4], vxlan: { ...tunnel, linkLocals: [ll] } }), have({
      vxlan: held,
      routes: [{ dst: 'fd00::5', gateway: 'fe80::877:c0ff:fe00:202', dev: 'weft-vxlan', onlink: true }, { dst: 'fd00::9/128', gateway: 'fe80::1', onlink: false }],
      neighbours: [{ dst: '192.0.2.2', lladdr: '0a:77:c0:00:02:02', permanent: true }],
      fdb: [{ mac: '0a:77:c0:00:02:02', dst: '192.0.2.2' }]
    }))
    expect(c.ip).toEqual([
      'neigh replace fe80::877:c0ff:fe00:202 lladdr 0a:77:c0:00:02:02 dev weft-vxlan nud permanent',
      'route del fd00::9/128 proto 157',
      'route replace 10.32.0.0/16 via inet6 2001:db8::2 dev weft-vxlan onlink proto 157'
    ])
    expect(c.bridge).toEqual([])
  })
})
