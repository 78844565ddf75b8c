/**
 * The data plane's vocabulary: how a node carries pod packets to other nodes, what the planner wants
 * the kernel to hold, and what the executor read from it. Plain data throughout.
 */
import type { Cidr, PeerId } from '@weft/ring'

export type Family = 4 | 6

/** `direct`: routes via the peers' node addresses (one L2 segment); `vxlan`: the same over a tunnel; `none`: IPAM only. */
export type RoutingMode = 'direct' | 'vxlan' | 'none'
export const ROUTING_MODES: readonly RoutingMode[] = ['direct', 'vxlan', 'none']

/** The routing protocol number weft marks its routes with (`ip route ... proto 157`): ours to add and to remove. */
export const WEFT_PROTO = 157
/** The VXLAN device, its network id and UDP port (Weave's fastdp port). */
export const VXLAN_DEVICE = 'weft-vxlan'
export const VXLAN_VNI = 6784
export const VXLAN_PORT = 6784
/** Outer IP, UDP, VXLAN and inner Ethernet headers, for an IPv4 and an IPv6 underlay. */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const

/** One route to another peer's pods. `dev` and `onlink` only in vxlan mode. */
export interface Route {
  readonly dst: Cidr
  /** The next hop; an IPv6 one for an IPv4 route over an IPv6 tunnel (`via inet6`). */
  readonly via: string
  readonly dev?: string
  readonly onlink: boolean
  readonly peer: PeerId
}

/** One remote tunnel end: its node address and the MAC of its VXLAN device. */
export interface Vtep {
  readonly address: string
  readonly mac: string
}

export interface VxlanPlan {
  readonly device: string
  readonly vni: number
  readonly port: number
  readonly local: string
  readonly mac: string
  readonly mtu: number
  /** Every remote peer's tunnel end (an FDB entry and a permanent neighbour each), sorted by address. */
  readonly peers: readonly Vtep[]
  /**
   * The peers' devices' IPv6 link-local addresses, as permanent neighbours: the next hops of IPv6
   * pools over an IPv4 tunnel. Sorted by address; empty without such a pool.
   */
  readonly linkLocals: readonly Vtep[]
}

/** A kernel setting under /proc/sys, e.g. `net/ipv4/conf/weft0/proxy_arp`. */
export interface Sysctl {
  readonly path: string
  readonly value: string
}

/** Why a peer that owns ranges of a pool gets no route to them. */
export interface Unroutable {
  readonly peer: PeerId
  /** The pool's range. */
  readonly range: Cidr
  readonly reason: string
}

/** What the kernel should hold. Everything weft owns that is not in it is removed. */
export interface DesiredState {
  /** The families of the pools; weft's routes of the others are removed all the same. */
  readonly families: readonly Family[]
  /** The pools' pod bridges: made if missing (before the first pod), so their settings can be in place. */
  readonly bridges: readonly string[]
  /**
   * The MAC a bridge is made with, and pinned to when found unpinned (the same for each: every bridge
   * is an L2 segment of its own), when this node's address is known. An unpinned bridge takes its
   * lowest port's MAC, which moves as pods come and go (CHECK then finds it changed), and is all-zero
   * with no port, which the bridge plugin reads and then fails to pin ("could not set bridge's mac").
   */
  readonly bridgeMac: string | null
  readonly routes: readonly Route[]
  readonly vxlan: VxlanPlan | null
  readonly sysctls: readonly Sysctl[]
  readonly unroutable: readonly Unroutable[]
}

export interface ObservedRoute {
  readonly dst: string
  readonly gateway?: string
  readonly dev?: string
  readonly onlink: boolean
}

export interface ObservedVxlan {
  readonly vni: number
  readonly port: number
  readonly local: string | null
  readonly learning: boolean
  readonly mac: string
  readonly mtu: number
  readonly up: boolean
}

export interface ObservedNeighbour {
  readonly dst: string
  readonly lladdr: string | null
  readonly permanent: boolean
}

export interface ObservedFdb {
  readonly mac: string
  readonly dst: string
}

/** The address `ip` shows for a device without a MAC (a bridge with no port and none given). */
export const NO_MAC = '00:00:00:00:00:00'

export interface ObservedBridge {
  readonly up: boolean
  readonly mac: string
  /** Given a MAC (at its making or later), which the kernel then keeps; else the MAC follows its ports. */
  readonly pinned: boolean
}

/** What the executor read from the kernel (`ip -json`, `bridge -json`, /proc/sys, /sys/class/net). */
export interface ObservedState {
  /** weft's routes (proto 157) in the main table, of both families. */
  readonly routes: readonly ObservedRoute[]
  /** The wanted bridges that exist, by name. */
  readonly bridges: ReadonlyMap<string, ObservedBridge>
  readonly vxlan: ObservedVxlan | null
  readonly neighbours: readonly ObservedNeighbour[]
  readonly fdb: readonly ObservedFdb[]
  readonly sysctls: ReadonlyMap<string, string>
}
