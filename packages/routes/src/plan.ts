/**
 * The planner: ring ownership and every peer's node address in, the kernel state this node should hold
 * out, for every pool. Pure: no I/O, no clock. For each range another peer owns, the minimal CIDR cover of that peer's
 * ranges goes via its node address; this node's own ranges stay on the bridge's connected route (the
 * whole range's prefix), which the more specific routes override. Proxy ARP on the bridge lets pods keep
 * that prefix: the bridge answers for every address routed elsewhere (Weave's AWSVPC mode).
 */
import { formatAddress, parseAddress, rangeToCidrs, rangesByOwner } from '@weft/ring'
import type { PeerId, RingState, Universe } from '@weft/ring'
import { VXLAN_DEVICE, VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_VNI } from './types.ts'
import type { DesiredState, Family, Route, Sysctl, Unroutable, Vtep } from './types.ts'

/** One pool's range and its ring, as the agent committed it last. */
export interface PoolRing {
  readonly universe: Universe
  readonly ring: RingState
}

export interface PlanInput {
  /** Every pool this node serves (one per family for dual-stack, more for more networks). */
  readonly pools: readonly PoolRing[]
  readonly self: PeerId
  /**
   * This node's addresses, at most one per family (WEFT_NODE_IP or the detected ones); the first is
   * the tunnel's local end and what the bridge's MAC is derived from.
   */
  readonly selfAddresses: readonly string[]
  readonly mode: 'direct' | 'vxlan'
  readonly bridge: string
  /** MTU of the device this node's address is on; the tunnel's MTU is this less the encapsulation. */
  readonly uplinkMtu: number | null
}

const DEFAULT_MTU = 1500
const familyOf = (address: string): Family => parseAddress(address).family

/**
 * Every peer's node addresses by family, from its member record in every pool's ring: a dual-stack
 * node may announce its IPv4 address in one pool and its IPv6 address in another.
 */
function peerAddresses (pools: readonly PoolRing[]): Map<PeerId, Map<Family, string>> {
  const out = new Map<PeerId, Map<Family, string>>()
  for (const { ring } of pools) {
    for (const m of ring.members) {
      if (m.address === undefined) continue
      const of = out.get(m.peer) ?? new Map<Family, string>()
      if (!of.has(familyOf(m.address))) of.set(familyOf(m.address), m.address)
      out.set(m.peer, of)
    }
  }
  return out
}

export function plan (input: PlanInput): DesiredState {
  const vxlan = input.mode === 'vxlan'
  const local = input.selfAddresses[0] ?? null
  const tunnelFamily = local === null ? null : familyOf(local)
  const addresses = peerAddresses(input.pools)
  const unroutable: Unroutable[] = []
  const routes: Route[] = []
  const vteps = new Map<string, Vtep>()
  const linkLocals = new Map<string, Vtep>()
  for (const { universe: u, ring } of input.pools) {
    const remote = rangesByOwner(u, ring)
    remote.delete(input.self)
    for (const peer of [...remote.keys()].sort()) {
      // Direct routes go via the address of the pool's family; a tunnel's via its own family's.
      const family = vxlan ? tunnelFamily ?? u.family : u.family
      const known = addresses.get(peer)
      const address = known?.get(family)
      const reason = unroutableReason(known, family, address, input.selfAddresses, input.mode, local)
      if (reason !== null || address === undefined) {
        unroutable.push({ peer, range: u.cidr, reason: reason ?? '' })
        continue
      }
      let via = address
      if (vxlan) {
        const vtep = { address, mac: vtepMac(address) }
        vteps.set(address, vtep)
        // IPv6 pods over an IPv4 tunnel: the kernel takes no IPv4 next hop for an IPv6 route, so the
        // next hop is the peer device's link-local address, resolved by a permanent neighbour entry.
        if (u.family === 6 && family === 4) {
          via = linkLocalOf(vtep.mac)
          linkLocals.set(via, { address: via, mac: vtep.mac })
        }
      }
      for (const r of remote.get(peer)!) {
        for (const dst of rangeToCidrs(u, r)) {
          routes.push(vxlan ? { dst, via, dev: VXLAN_DEVICE, onlink: true, peer } : { dst, via, onlink: false, peer })
        }
      }
    }
  }
  const byAddress = (a: Vtep, b: Vtep): number => (a.address < b.address ? -1 : 1)
  const families = [...new Set(input.pools.map(p => p.universe.family))].sort()
  return {
    families,
    bridge: input.bridge,
    bridgeMac: local === null ? null : nodeMac(local, BRIDGE_MAC_TAG),
    routes,
    vxlan: !vxlan || local === null
      ? null
      : {
          device: VXLAN_DEVICE,
          vni: VXLAN_VNI,
          port: VXLAN_PORT,
          local,
          mac: vtepMac(local),
          mtu: (input.uplinkMtu ?? DEFAULT_MTU) - VXLAN_OVERHEAD[familyOf(local)],
          peers: [...vteps.values()].sort(byAddress),
          linkLocals: [...linkLocals.values()].sort(byAddress)
        },
    sysctls: families.flatMap(f => sysctls(f, input.bridge)),
    unroutable
  }
}

/** Why a peer gets no route to a pool needing its address of `family`; null when it gets them. */
function unroutableReason (known: ReadonlyMap<Family, string> | undefined, family: Family, address: string | undefined, self: readonly string[], mode: PlanInput['mode'], local: string | null): string | null {
  const any = known === undefined ? undefined : [...known.values()][0]
  if (any === undefined) return 'announces no node address'
  if (address === undefined) return `its node address ${any} is not IPv${family}, the ${mode === 'vxlan' ? 'tunnel' : 'range'}'s family`
  if (self.includes(address)) return `announces this node's own address ${address}`
  if (mode === 'vxlan' && local === null) return 'this node has no address for the tunnel\'s local end (set WEFT_NODE_IP)'
  return null
}

/** Forwarding on; for IPv4, proxy ARP on the bridge answering at once (the default delay is ~0.8 s). */
function sysctls (family: Family, bridge: string): Sysctl[] {
  if (family === 6) return [{ path: 'net/ipv6/conf/all/forwarding', value: '1' }]
  return [
    { path: 'net/ipv4/ip_forward', value: '1' },
    { path: `net/ipv4/conf/${bridge}/proxy_arp`, value: '1' },
    { path: `net/ipv4/neigh/${bridge}/proxy_delay`, value: '0' }
  ]
}

/** The IPv6 link-local address the kernel gives a device with this MAC (EUI-64, RFC 4291 appendix A). */
export function linkLocalOf (mac: string): string {
  const b = mac.split(':').map(h => parseInt(h, 16))
  const eui = [(b[0] ?? 0) ^ 2, b[1] ?? 0, b[2] ?? 0, 0xff, 0xfe, b[3] ?? 0, b[4] ?? 0, b[5] ?? 0]
  const low = eui.reduce((v, x) => (v << 8n) | BigInt(x), 0n)
  return formatAddress(6, (0xfe80n << 112n) | low)
}

/**
 * A node's VXLAN MAC, derived from its node address so that no second field travels in the ring:
 * locally administered unicast `0a:77` then the IPv4 address, or a 32-bit FNV-1a hash of the IPv6 one.
 */
export function vtepMac (address: string): string {
  return nodeMac(address, VTEP_MAC_TAG)
}

/** The second byte of a derived MAC tells the devices of one node apart. */
const VTEP_MAC_TAG = 0x77
const BRIDGE_MAC_TAG = 0x62

function nodeMac (address: string, tag: number): string {
  const { family, value } = parseAddress(address)
  let low: number
  if (family === 4) {
    low = Number(value)
  } else {
    let h = 0x811c9dc5
    for (let i = 15; i >= 0; i--) {
      h ^= Number((value >> BigInt(i * 8)) & 255n)
      h = Math.imul(h, 0x01000193) >>> 0
    }
    low = h
  }
  const bytes = [0x0a, tag, (low >>> 24) & 255, (low >>> 16) & 255, (low >>> 8) & 255, low & 255]
  return bytes.map(b => b.toString(16).padStart(2, '0')).join(':')
}
