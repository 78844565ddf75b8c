/**
 * The planner: ring ownership and every peer's node address in, the kernel state this node should hold
 * out. Pure: no I/O, no clock. For each range another peer owns, the minimal CIDR cover of that peer's
 * ranges goes via its node address; this node's own ranges stay on the bridge's connected route (the
 * whole range's prefix), which the more specific routes override. Proxy ARP on the bridge lets pods keep
 * that prefix: the bridge answers for every address routed elsewhere (Weave's AWSVPC mode).
 */
import { parseAddress, rangeToCidrs, rangesByOwner } from '@weft/ring'
import type { PeerId, RingState, Universe } from '@weft/ring'
import { VXLAN_DEVICE, VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_VNI } from './types.ts'
import type { DesiredState, Route, Sysctl, Unroutable, Vtep } from './types.ts'

export interface PlanInput {
  readonly universe: Universe
  readonly ring: RingState
  readonly self: PeerId
  /** This node's address (WEFT_NODE_IP or the detected default); the tunnel's local end. */
  readonly selfAddress: string | null
  readonly mode: 'direct' | 'vxlan'
  readonly bridge: string
  /** MTU of the device this node's address is on; the tunnel's MTU is this less the encapsulation. */
  readonly uplinkMtu: number | null
}

const DEFAULT_MTU = 1500

export function plan (input: PlanInput): DesiredState {
  const u = input.universe
  const remote = rangesByOwner(u, input.ring)
  remote.delete(input.self)
  const vxlan = input.mode === 'vxlan'
  const local = input.selfAddress
  const unroutable: Unroutable[] = []
  const routes: Route[] = []
  const vteps = new Map<string, Vtep>()
  const addressOf = new Map(input.ring.members.map(m => [m.peer, m.address]))
  for (const peer of [...remote.keys()].sort()) {
    const address = addressOf.get(peer)
    const reason = address === undefined
      ? 'announces no node address'
      : parseAddress(address).family !== u.family
        ? `its node address ${address} is not IPv${u.family}, the range's family`
        : address === local
          ? `announces this node's own address ${address}`
          : vxlan && local === null ? 'this node has no address for the tunnel\'s local end (set WEFT_NODE_IP)' : null
    if (reason !== null || address === undefined) {
      unroutable.push({ peer, reason: reason ?? '' })
      continue
    }
    if (vxlan) vteps.set(address, { address, mac: vtepMac(address) })
    for (const r of remote.get(peer)!) {
      for (const dst of rangeToCidrs(u, r)) {
        routes.push(vxlan ? { dst, via: address, dev: VXLAN_DEVICE, onlink: true, peer } : { dst, via: address, onlink: false, peer })
      }
    }
  }
  return {
    family: u.family,
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
          mtu: (input.uplinkMtu ?? DEFAULT_MTU) - VXLAN_OVERHEAD[parseAddress(local).family],
          peers: [...vteps.values()].sort((a, b) => (a.address < b.address ? -1 : 1))
        },
    sysctls: sysctls(u.family, input.bridge),
    unroutable
  }
}

/** Forwarding on; for IPv4, proxy ARP on the bridge answering at once (the default delay is ~0.8 s). */
function sysctls (family: 4 | 6, bridge: string): Sysctl[] {
  if (family === 6) return [{ path: 'net/ipv6/conf/all/forwarding', value: '1' }]
  return [
    { path: 'net/ipv4/ip_forward', value: '1' },
    { path: `net/ipv4/conf/${bridge}/proxy_arp`, value: '1' },
    { path: `net/ipv4/neigh/${bridge}/proxy_delay`, value: '0' }
  ]
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
