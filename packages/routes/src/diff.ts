/**
 * From what the kernel holds to what the plan wants: the commands, as `ip -batch` and `bridge -batch`
 * lines, and the settings to write. Pure. Only what weft owns is removed: routes marked with its
 * protocol number, and entries on its own VXLAN device.
 */
import { NO_MAC, VXLAN_DEVICE, WEFT_PROTO } from './types.ts'
import type { DesiredState, ObservedState, Route, Sysctl } from './types.ts'

export interface Changes {
  /** `ip -batch` lines, in order: links, neighbours, stale routes, then routes to add or repair. */
  readonly ip: readonly string[]
  /** `bridge -batch` lines: the VXLAN forwarding entries. */
  readonly bridge: readonly string[]
  readonly sysctls: readonly Sysctl[]
}

export const isEmpty = (c: Changes): boolean => c.ip.length === 0 && c.bridge.length === 0 && c.sysctls.length === 0

/** `ip -json` prints a host route's destination without its prefix length. */
function normaliseDst (dst: string): string {
  return dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`
}

/** An IPv4 route over an IPv6 tunnel names its next hop's family (RFC 5549). */
const viaOf = (r: Route): string => r.via.includes(':') && !r.dst.includes(':') ? `inet6 ${r.via}` : r.via

const routeLine = (r: Route): string =>
  `route replace ${r.dst} via ${viaOf(r)}${r.dev === undefined ? '' : ` dev ${r.dev}`}${r.onlink ? ' onlink' : ''} proto ${WEFT_PROTO}`

export function diff (want: DesiredState, have: ObservedState): Changes {
  const ip: string[] = []
  const bridge: string[] = []
  for (const name of want.bridges) {
    const b = have.bridges.get(name)
    if (b === undefined) {
      ip.push(`link add ${name}${want.bridgeMac === null ? '' : ` address ${want.bridgeMac}`} type bridge`, `link set ${name} up`)
      continue
    }
    // One the bridge plugin made before the agent: pinned now, so that its MAC stops following its
    // ports; without a node address, to the MAC it has (none to pin with no port).
    const pin = b.pinned ? null : want.bridgeMac ?? (b.mac === NO_MAC ? null : b.mac)
    if (pin !== null) ip.push(`link set dev ${name} address ${pin}`)
    if (!b.up) ip.push(`link set ${name} up`)
  }

  const v = want.vxlan
  const old = have.vxlan
  // A device made again starts with no entries, whatever was read before.
  let entries = { neighbours: have.neighbours, fdb: have.fdb }
  if (v === null) {
    if (old !== null) ip.push(`link del ${VXLAN_DEVICE}`)
  } else {
    const add = `link add ${v.device} address ${v.mac} mtu ${v.mtu} type vxlan id ${v.vni} local ${v.local} dstport ${v.port} nolearning`
    if (old === null || old.vni !== v.vni || old.port !== v.port || old.local !== v.local || old.learning) {
      if (old !== null) ip.push(`link del ${v.device}`)
      ip.push(add, `link set ${v.device} up`)
      entries = { neighbours: [], fdb: [] }
    } else {
      if (old.mac !== v.mac || old.mtu !== v.mtu) ip.push(`link set dev ${v.device} address ${v.mac} mtu ${v.mtu}`)
      if (!old.up) ip.push(`link set ${v.device} up`)
    }
    const wanted = new Map(v.peers.map(p => [p.address, p.mac]))
    const neighbours = [...v.peers, ...v.linkLocals]
    const wantedNeighbours = new Map(neighbours.map(p => [p.address, p.mac]))
    for (const n of entries.neighbours) {
      if (n.permanent && !wantedNeighbours.has(n.dst)) ip.push(`neigh del ${n.dst} dev ${v.device}`)
    }
    for (const p of neighbours) {
      if (!entries.neighbours.some(n => n.dst === p.address && n.permanent && n.lladdr === p.mac)) {
        ip.push(`neigh replace ${p.address} lladdr ${p.mac} dev ${v.device} nud permanent`)
      }
    }
    for (const f of entries.fdb) {
      if (wanted.get(f.dst) !== f.mac) bridge.push(`fdb del ${f.mac} dev ${v.device} dst ${f.dst}`)
    }
    for (const p of v.peers) {
      if (!entries.fdb.some(f => f.mac === p.mac && f.dst === p.address)) bridge.push(`fdb append ${p.mac} dev ${v.device} dst ${p.address}`)
    }
  }

  const wantedRoutes = new Map(want.routes.map(r => [r.dst as string, r]))
  const held = new Map(have.routes.map(r => [normaliseDst(r.dst), r]))
  for (const dst of held.keys()) {
    if (!wantedRoutes.has(dst)) ip.push(`route del ${dst} proto ${WEFT_PROTO}`)
  }
  for (const r of want.routes) {
    const h = held.get(r.dst)
    const same = h !== undefined && h.gateway === r.via && h.onlink === r.onlink && (r.dev === undefined || h.dev === r.dev)
    if (!same) ip.push(routeLine(r))
  }
  const sysctls = want.sysctls.filter(s => have.sysctls.get(s.path) !== s.value)
  return { ip, bridge, sysctls }
}
