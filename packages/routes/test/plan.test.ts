import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { IntervalSet, Ring, asPeerId, parseAddress, parseUniverse } from '@weft/ring/internal'
import type { PeerId, Range, RingState, Universe } from '@weft/ring'
import { VXLAN_DEVICE, linkLocalOf, plan, vtepMac } from '../src/index.ts'
import type { DesiredState, PlanInput } from '../src/index.ts'

const PEERS = ['p0', 'p1', 'p2', 'p3', 'p4'].map(asPeerId)
const nodeIp = (i: number): string => `192.0.2.${i + 1}`

/** A ring split among `n` peers, then reshaped by random gifts (donations) and one optional takeover. */
function ringOf (u: Universe, n: number, gifts: ReadonlyArray<readonly [number, number, number, number]>, takeover: boolean): Ring {
  const r = Ring.empty(u)
  const peers = PEERS.slice(0, n)
  r.claimForPeers(peers)
  for (const [from, to, a, b] of gifts) {
    const giver = peers[from % n]!
    const taker = peers[to % n]!
    const own = r.rangesOf(giver)
    if (giver === taker || own.length === 0) continue
    const run = own[a % own.length]!
    const size = run.end - run.start
    const start = run.start + BigInt(b) % size
    const end = start + 1n + BigInt(a) % (run.end - start)
    r.give({ start, end }, giver, taker)
  }
  if (takeover && n > 2) r.addRemoval(peers[n - 1]!, peers[0]!)
  peers.forEach((p, i) => r.setMember(p, `node-${i}`, nodeIp(i)))
  return r
}

/** The route a longest-prefix match picks for `offset`, or null (the bridge's connected route). */
function lookup (u: Universe, want: DesiredState, offset: bigint): string | null {
  let best: { len: number, via: string } | null = null
  for (const r of want.routes) {
    const [addr, len] = r.dst.split('/')
    const size = 1n << BigInt(32 - Number(len))
    const start = parseAddress(addr!).value - u.first
    if (offset >= start && offset < start + size && (best === null || Number(len) > best.len)) best = { len: Number(len), via: r.via }
  }
  return best?.via ?? null
}

/** The fewest aligned blocks that cover exactly the set within [start, start+size): the binary trie's leaves. */
function fewestBlocks (set: IntervalSet, start: bigint, size: bigint): number {
  const held = set.countIn({ start, end: start + size })
  if (held === 0n) return 0
  if (held === size) return 1
  const half = size / 2n
  return fewestBlocks(set, start, half) + fewestBlocks(set, start + half, half)
}

const input = (u: Universe, ring: RingState, self: PeerId, mode: 'direct' | 'vxlan' = 'direct'): PlanInput =>
  ({ pools: [{ universe: u, ring }], self, selfAddresses: [nodeIp(PEERS.indexOf(self))], mode, bridge: 'weft0', uplinkMtu: 1500 })

const gifts = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { maxLength: 12 })

describe('the planner', () => {
  it('routes every remote address to its owner\'s node and no local address anywhere, with the fewest CIDRs', () => {
    const u = parseUniverse('10.32.0.0/22')
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), gifts, fc.boolean(), fc.nat(), (n, g, takeover, who) => {
      const ring = ringOf(u, n, g, takeover)
      const self = ring.owners()[who % ring.owners().length]!
      const want = plan(input(u, ring.toState(), self))
      for (let o = 0n; o < u.size; o++) {
        const owner = ring.ownerAt(o)!
        expect(lookup(u, want, o)).toBe(owner === self ? null : nodeIp(PEERS.indexOf(owner)))
      }
      let fewest = 0
      for (const p of ring.owners().filter(p => p !== self)) fewest += fewestBlocks(IntervalSet.of(ring.rangesOf(p)), 0n, u.size)
      expect(want.routes).toHaveLength(fewest)
      expect(want.unroutable).toEqual([])
    }), { numRuns: 150 })
  })

  it('routes a removed peer\'s ranges to its heir at once', () => {
    const u = parseUniverse('10.32.0.0/12')
    const r = ringOf(u, 3, [], true)
    const want = plan(input(u, r.toState(), PEERS[1]!))
    expect(new Set(want.routes.map(x => x.via))).toEqual(new Set([nodeIp(0)]))
    const routed = want.routes.reduce((n, x) => n + (1n << BigInt(32 - Number(x.dst.split('/')[1]))), 0n)
    expect(routed).toBe(u.size - r.sizeOf(PEERS[1]!))
  })

  it('gives a peer without a usable node address no route, and says why', () => {
    const u = parseUniverse('10.32.0.0/16')
    const r = Ring.empty(u)
    r.claimForPeers(PEERS.slice(0, 4))
    r.setMember(PEERS[0]!, 'a', '192.0.2.1')
    r.setMember(PEERS[2]!, 'c', '2001:db8::3')
    r.setMember(PEERS[3]!, 'd', '192.0.2.1')
    const want = plan(input(u, r.toState(), PEERS[0]!))
    expect(want.routes).toEqual([])
    expect(want.unroutable).toEqual([
      { peer: PEERS[1], range: u.cidr, reason: 'announces no node address' },
      { peer: PEERS[2], range: u.cidr, reason: 'its node address 2001:db8::3 is not IPv4, the range\'s family' },
      { peer: PEERS[3], range: u.cidr, reason: 'announces this node\'s own address 192.0.2.1' }
    ])
  })

  it('in direct mode sets proxy ARP at once on the bridge and forwarding, and makes no tunnel', () => {
    const u = parseUniverse('10.32.0.0/12')
    const want = plan(input(u, ringOf(u, 3, [], false).toState(), PEERS[0]!))
    expect(want.vxlan).toBeNull()
    expect(want.sysctls).toEqual([
      { path: 'net/ipv4/ip_forward', value: '1' },
      { path: 'net/ipv4/conf/weft0/proxy_arp', value: '1' },
      { path: 'net/ipv4/neigh/weft0/proxy_delay', value: '0' }
    ])
    expect(want.routes.every(r => r.dev === undefined && !r.onlink)).toBe(true)
  })

  it('in vxlan mode plans the device, a tunnel end per peer and onlink routes over it, the MTU less 50', () => {
    const u = parseUniverse('10.32.0.0/12')
    const want = plan(input(u, ringOf(u, 3, [], false).toState(), PEERS[0]!, 'vxlan'))
    expect(want.vxlan).toEqual({
      device: VXLAN_DEVICE, vni: 6784, port: 6784, local: '192.0.2.1', mac: '0a:77:c0:00:02:01', mtu: 1450,
      peers: [{ address: '192.0.2.2', mac: '0a:77:c0:00:02:02' }, { address: '192.0.2.3', mac: '0a:77:c0:00:02:03' }],
      linkLocals: []
    })
    expect(want.routes.length).toBeGreaterThan(0)
    expect(want.routes.every(r => r.dev === VXLAN_DEVICE && r.onlink)).toBe(true)
    const noLocal = plan({ ...input(u, ringOf(u, 3, [], false).toState(), PEERS[0]!, 'vxlan'), selfAddresses: [] })
    expect(noLocal.vxlan).toBeNull()
    expect(noLocal.routes).toEqual([])
    expect(noLocal.unroutable.map(x => x.reason)).toEqual([1, 2].map(() => 'this node has no address for the tunnel\'s local end (set WEFT_NODE_IP)'))
  })

  it('derives distinct locally administered unicast VTEP MACs from node addresses', () => {
    expect(vtepMac('10.1.2.3')).toBe('0a:77:0a:01:02:03')
    const v6 = ['2001:db8::1', '2001:db8::2', 'fd00::1:1'].map(vtepMac)
    expect(new Set(v6).size).toBe(3)
    for (const m of v6) expect(m).toMatch(/^0a:77(:[0-9a-f]{2}){4}$/)
  })

  it('counts routes per node for 3 and 20 peers on a /12: even split, and joins by donation', () => {
    const u = parseUniverse('10.32.0.0/12')
    const count = (r: Ring, ids: readonly PeerId[]): number[] => {
      ids.forEach((p, i) => r.setMember(p, p, `192.0.2.${i + 1}`))
      return ids.map(p => plan({ pools: [{ universe: u, ring: r.toState() }], self: p, selfAddresses: [], mode: 'direct', bridge: 'weft0', uplinkMtu: null }).routes.length)
    }
    for (const n of [3, 20]) {
      const ids = Array.from({ length: n }, (_, i) => asPeerId(`peer-${String(i).padStart(2, '0')}`))
      const even = Ring.empty(u)
      even.claimForPeers(ids)
      // Joined one by one instead: each newcomer gets half of the biggest run of the largest holder.
      const joined = Ring.empty(u)
      joined.claimForPeers([ids[0]!])
      for (const p of ids.slice(1)) {
        const [donor] = [...joined.holdings()].sort(([, a], [, b]) => (a.size > b.size ? -1 : 1))[0]!
        const run = joined.rangesOf(donor).sort((a: Range, b: Range) => (a.end - a.start > b.end - b.start ? -1 : 1))[0]!
        joined.give({ start: run.start + (run.end - run.start) / 2n, end: run.end }, donor, p)
      }
      for (const [layout, r] of [['even split', even], ['joins by donation', joined]] as const) {
        const counts = count(r, ids)
        console.log(`route count per node, ${n} peers on a /12, ${layout}: min ${Math.min(...counts)}, max ${Math.max(...counts)}`)
        // A run inside a /12 needs at most 2 x 20 CIDRs; each remote peer here holds one run.
        expect(Math.max(...counts)).toBeLessThanOrEqual((n - 1) * 40)
        expect(Math.min(...counts)).toBeGreaterThanOrEqual(n - 1)
      }
    }
  })

  describe('with two pools (dual-stack)', () => {
    const u4 = parseUniverse('10.32.0.0/16')
    const u6 = parseUniverse('fd00:10:32::/104')
    const v6Ip = (i: number): string => `2001:db8::${i + 1}`
    /** Three peers; in the IPv6 pool each announces `v6` addresses when given, else its IPv4 one. */
    const pools = (v6: boolean): PlanInput['pools'] => [u4, u6].map(u => {
      const r = Ring.empty(u)
      r.claimForPeers(PEERS.slice(0, 3))
      PEERS.slice(0, 3).forEach((p, i) => r.setMember(p, `node-${i}`, u.family === 6 && v6 ? v6Ip(i) : nodeIp(i)))
      return { universe: u, ring: r.toState() }
    })
    const base = { self: PEERS[0]!, bridge: 'weft0', uplinkMtu: 1500 }
    const covered = (want: DesiredState, u: Universe): bigint => want.routes
      .filter(r => r.dst.includes(':') === (u.family === 6))
      .reduce((n, r) => n + (1n << BigInt((u.family === 6 ? 128 : 32) - Number(r.dst.split('/')[1]))), 0n)

    it('direct: routes each pool via the peers\' node address of its family, and sets both families\' forwarding', () => {
      const want = plan({ ...base, pools: pools(true), selfAddresses: [nodeIp(0), v6Ip(0)], mode: 'direct' })
      const in6 = want.routes.filter(r => r.dst.includes(':'))
      expect(new Set(in6.map(r => r.via))).toEqual(new Set([v6Ip(1), v6Ip(2)]))
      expect(new Set(want.routes.filter(r => !r.dst.includes(':')).map(r => r.via))).toEqual(new Set([nodeIp(1), nodeIp(2)]))
      for (const [i, u] of [u4, u6].entries()) {
        const own = Ring.fromState(u, pools(true)[i]!.ring).sizeOf(PEERS[0]!)
        expect(covered(want, u)).toBe(u.size - own)
      }
      expect(want.families).toEqual([4, 6])
      expect(want.sysctls.map(s => s.path)).toEqual(['net/ipv4/ip_forward', 'net/ipv4/conf/weft0/proxy_arp', 'net/ipv4/neigh/weft0/proxy_delay', 'net/ipv6/conf/all/forwarding'])
      expect(want.unroutable).toEqual([])
    })

    it('direct: a pool of a family the peers have no address of gets no route, and says why per pool', () => {
      const want = plan({ ...base, pools: pools(false), selfAddresses: [nodeIp(0)], mode: 'direct' })
      expect(want.routes.every(r => !r.dst.includes(':'))).toBe(true)
      expect(want.unroutable).toEqual([1, 2].map(i => ({ peer: PEERS[i], range: u6.cidr, reason: `its node address ${nodeIp(i)} is not IPv6, the range's family` })))
    })

    it('vxlan over IPv4: IPv6 routes go via each peer device\'s link-local address, a permanent neighbour of its MAC', () => {
      const want = plan({ ...base, pools: pools(false), selfAddresses: [nodeIp(0)], mode: 'vxlan' })
      const lls = [1, 2].map(i => ({ address: linkLocalOf(vtepMac(nodeIp(i))), mac: vtepMac(nodeIp(i)) }))
      expect(want.vxlan?.peers).toEqual([1, 2].map(i => ({ address: nodeIp(i), mac: vtepMac(nodeIp(i)) })))
      expect(want.vxlan?.linkLocals).toEqual(lls.sort((a, b) => (a.address < b.address ? -1 : 1)))
      const in6 = want.routes.filter(r => r.dst.includes(':'))
      expect(in6.length).toBeGreaterThan(0)
      expect(new Set(in6.map(r => r.via))).toEqual(new Set(lls.map(l => l.address)))
      expect(in6.every(r => r.dev === VXLAN_DEVICE && r.onlink)).toBe(true)
      expect(covered(want, u6)).toBe(u6.size - Ring.fromState(u6, pools(false)[1]!.ring).sizeOf(PEERS[0]!))
      expect(want.unroutable).toEqual([])
    })

    it('vxlan over IPv6: IPv4 routes go via the peers\' IPv6 node addresses (an IPv4 route with an IPv6 next hop), MTU less 70', () => {
      const over6 = [u4, u6].map(u => {
        const r = Ring.empty(u)
        r.claimForPeers(PEERS.slice(0, 3))
        PEERS.slice(0, 3).forEach((p, i) => r.setMember(p, `node-${i}`, v6Ip(i)))
        return { universe: u, ring: r.toState() }
      })
      const want = plan({ ...base, pools: over6, selfAddresses: [v6Ip(0)], mode: 'vxlan' })
      expect(new Set(want.routes.map(r => r.via))).toEqual(new Set([v6Ip(1), v6Ip(2)]))
      expect(want.vxlan).toMatchObject({ local: v6Ip(0), mtu: 1430, linkLocals: [] })
      expect(want.unroutable).toEqual([])
    })

    it('derives the link-local address the kernel gives a MAC (EUI-64)', () => {
      expect(linkLocalOf('0a:77:c0:00:02:02')).toBe('fe80::877:c0ff:fe00:202')
      expect(linkLocalOf('00:00:00:00:00:01')).toBe('fe80::200:ff:fe00:1')
    })
  })
})
