import { DEFAULT_SOCKET, fieldProblem, poolNameProblem } from '@weft/protocol'
import { familyOf, isAddress, isCidr, stripPrefix } from './address.ts'
import type { ContainerInterface, Invocation } from './env.ts'
import { CniCode, CniError } from './errors.ts'
import { DEFAULT_VERSION, isSupportedVersion, SUPPORTED_VERSIONS, versionAtLeast } from './versions.ts'
import type { CniVersion } from './versions.ts'

export interface Route {
  dst: string
  gw?: string
}

export interface Dns {
  nameservers?: string[]
  domain?: string
  search?: string[]
  options?: string[]
}

/** The `ipam` section weft reads. */
export interface IpamConf {
  socket: string
  routes: Route[]
  /**
   * Whether the result carries this node's gateway of the network (default true): the address the
   * agent reserves per node and network from its own space, which the bridge plugin puts on the bridge.
   */
  gateway: boolean
  dns: Dns
  /** The pools to take one address from each, in order; absent: the agent's default pools (one per family). */
  pools?: string[]
}

export interface NetConf {
  cniVersion: CniVersion
  /** The network: part of every attachment's key in the agent. */
  name: string
  ipam: IpamConf
  /** The addresses asked for (CNI_ARGS `IP=`, `args.cni.ips`, `runtimeConfig.ips`), distinct, without prefix. */
  addresses: string[]
  /** GC: the network's attachments to keep. */
  validAttachments: ContainerInterface[]
  /** CHECK: the addresses (CIDR) of `prevResult`, when the runtime sent one. */
  prevAddresses?: string[]
  /** CHECK: the gateways `prevResult` lists (its `ips[].gateway`), when the runtime sent one. */
  prevGateways?: string[]
}

/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107
const IPAM_FIELDS = new Set(['type', 'socket', 'routes', 'gateway', 'dns', 'pools'])
/** The version each command first appeared in. */
const MIN_VERSION: Partial<Record<Invocation['command'], CniVersion>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' }

type Json = Record<string, unknown>

const invalid = (field: string, what: string): CniError => new CniError(CniCode.invalidConfig, `invalid ${field}: ${what}`)
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The network configuration from stdin, validated for the given invocation. Throws CniError 1, 6 or 7. */
export function parseConfig (text: string, inv: Invocation): NetConf {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new CniError(CniCode.decode, `error parsing network configuration: ${(err as Error).message}`)
  }
  if (!isObject(raw)) throw new CniError(CniCode.decode, 'error parsing network configuration: expected a JSON object')
  const cniVersion = parseVersion(raw.cniVersion, inv.command)
  const name = raw.name
  if (typeof name !== 'string') throw invalid('name', name === undefined ? 'missing network name' : `expected a string, got ${JSON.stringify(name)}`)
  const problem = fieldProblem('network', name)
  if (problem !== null) throw invalid('name', problem)
  const ipam = parseIpam(raw.ipam)
  const conf: NetConf = { cniVersion, name, ipam, addresses: requestedAddresses(inv.args.ips, raw, ipam.pools), validAttachments: [] }
  if (inv.command === 'GC') conf.validAttachments = parseValidAttachments(raw)
  if (inv.command === 'CHECK' && raw.prevResult !== undefined) Object.assign(conf, parsePrevResult(raw.prevResult))
  return conf
}

function parseVersion (v: unknown, command: Invocation['command']): CniVersion {
  if (v === undefined) return checkMinimum(DEFAULT_VERSION, command)
  if (typeof v !== 'string') throw invalid('cniVersion', `expected a string, got ${JSON.stringify(v)}`)
  if (!isSupportedVersion(v)) {
    throw new CniError(CniCode.incompatibleVersion, `incompatible CNI versions: config is ${JSON.stringify(v)}, plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`)
  }
  return checkMinimum(v, command)
}

function checkMinimum (v: CniVersion, command: Invocation['command']): CniVersion {
  const min = MIN_VERSION[command]
  if (min !== undefined && !versionAtLeast(v, min)) {
    throw new CniError(CniCode.incompatibleVersion, `config version ${v} does not allow ${command} (needs ${min} or later)`)
  }
  return v
}

function parseIpam (v: unknown): IpamConf {
  if (v === undefined) throw invalid('ipam', 'missing ipam section')
  if (!isObject(v)) throw invalid('ipam', 'expected an object')
  if (typeof v.type !== 'string' || v.type === '') throw invalid('ipam.type', 'expected the plugin name, e.g. "weft"')
  const unknown = Object.keys(v).find((k) => !IPAM_FIELDS.has(k))
  if (unknown !== undefined) throw invalid(`ipam.${unknown}`, `unknown field (known: ${[...IPAM_FIELDS].join(', ')})`)
  if (v.gateway !== undefined && typeof v.gateway !== 'boolean') {
    // An address was how a gateway was given before each agent reserved its node's own.
    throw invalid('ipam.gateway', `expected true or false, got ${JSON.stringify(v.gateway)} (the agent reserves each node's gateway itself)`)
  }
  const ipam: IpamConf = { socket: parseSocket(v.socket), routes: parseRoutes(v.routes), gateway: v.gateway !== false, dns: parseDns(v.dns) }
  if (v.pools !== undefined) ipam.pools = parsePools(v.pools)
  return ipam
}

/** A non-empty list of distinct pool names (the agent says which it serves). */
function parsePools (v: unknown): string[] {
  const pools = stringArray('ipam.pools', v)
  if (pools.length === 0) throw invalid('ipam.pools', 'empty: name at least one pool, or leave it out for the default pools')
  pools.forEach((p, i) => {
    const problem = poolNameProblem(p)
    if (problem !== null) throw invalid(`ipam.pools[${i}]`, problem)
    if (pools.indexOf(p) !== i) throw invalid(`ipam.pools[${i}]`, `${JSON.stringify(p)} is listed twice`)
  })
  return pools
}

function parseSocket (v: unknown): string {
  if (v === undefined) return DEFAULT_SOCKET
  if (typeof v !== 'string' || !v.startsWith('/')) throw invalid('ipam.socket', `${JSON.stringify(v)} is not an absolute path`)
  if (Buffer.byteLength(v) > MAX_SOCKET_PATH) throw invalid('ipam.socket', `longer than ${MAX_SOCKET_PATH} bytes`)
  if (v.includes('\0')) throw invalid('ipam.socket', 'contains a NUL character')
  return v
}

function parseRoutes (v: unknown): Route[] {
  if (v === undefined) return []
  if (!Array.isArray(v)) throw invalid('ipam.routes', 'expected an array of {dst, gw?}')
  return v.map((r: unknown, i): Route => {
    const field = `ipam.routes[${i}]`
    if (!isObject(r)) throw invalid(field, 'expected an object {dst, gw?}')
    const extra = Object.keys(r).find((k) => k !== 'dst' && k !== 'gw')
    if (extra !== undefined) throw invalid(`${field}.${extra}`, 'unknown field (known: dst, gw)')
    if (typeof r.dst !== 'string' || !isCidr(r.dst)) throw invalid(`${field}.dst`, `${JSON.stringify(r.dst)} is not a CIDR`)
    if (r.gw === undefined) return { dst: r.dst }
    if (typeof r.gw !== 'string' || !isAddress(r.gw)) throw invalid(`${field}.gw`, `${JSON.stringify(r.gw)} is not an IP address`)
    if (familyOf(r.gw) !== familyOf(stripPrefix(r.dst))) throw invalid(`${field}.gw`, `${r.gw} is not of the family of ${r.dst}`)
    return { dst: r.dst, gw: r.gw }
  })
}

function parseDns (v: unknown): Dns {
  if (v === undefined) return {}
  if (!isObject(v)) throw invalid('ipam.dns', 'expected an object {nameservers, domain, search, options}')
  const dns: Dns = {}
  for (const [key, value] of Object.entries(v)) {
    const field = `ipam.dns.${key}`
    if (key === 'domain') {
      if (typeof value !== 'string') throw invalid(field, 'expected a string')
      dns.domain = value
    } else if (key === 'nameservers' || key === 'search' || key === 'options') {
      dns[key] = stringArray(field, value)
    } else {
      throw invalid(field, 'unknown field (known: nameservers, domain, search, options)')
    }
  }
  const bad = dns.nameservers?.findIndex((s) => !isAddress(s)) ?? -1
  if (bad >= 0) throw invalid(`ipam.dns.nameservers[${bad}]`, `${JSON.stringify(dns.nameservers?.[bad])} is not an IP address`)
  return dns
}

function stringArray (field: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw invalid(field, 'expected an array of strings')
  const bad = v.findIndex((s) => typeof s !== 'string')
  if (bad >= 0) throw invalid(`${field}[${bad}]`, `expected a string, got ${JSON.stringify(v[bad])}`)
  return v as string[]
}

/**
 * Merges the three ways of asking for addresses, CNI_ARGS first as host-local does. Each pool gives
 * one address: without `ipam.pools` (the default pools, one per family) at most one per family,
 * otherwise at most one per pool named. The agent checks that each lies in a pool asked for.
 */
function requestedAddresses (argIps: string[], raw: Json, pools: string[] | undefined): string[] {
  const runtime = isObject(raw.runtimeConfig) ? raw.runtimeConfig.ips : undefined
  const cniArgs = isObject(raw.args) && isObject(raw.args.cni) ? raw.args.cni.ips : undefined
  const asked = [
    ...argIps,
    ...ipList('args.cni.ips', cniArgs),
    ...ipList('runtimeConfig.ips', runtime)
  ]
  const distinct = [...new Set(asked)]
  if (pools !== undefined) {
    if (distinct.length > pools.length) {
      throw new CniError(CniCode.invalidConfig, `${distinct.length} addresses requested (${distinct.join(', ')}) from ${pools.length} pool${pools.length === 1 ? '' : 's'} (${pools.join(', ')}): each pool gives one address per attachment`)
    }
    return distinct
  }
  for (const family of [4, 6] as const) {
    const of = distinct.filter(a => familyOf(a) === family)
    if (of.length > 1) {
      throw new CniError(CniCode.invalidConfig, `more than one IPv${family} address requested (${of.join(', ')}): the default pools give one address per family`)
    }
  }
  return distinct
}

function ipList (field: string, v: unknown): string[] {
  if (v === undefined) return []
  return stringArray(field, v).map((s, i) => {
    if (!isAddress(s) && !isCidr(s)) throw invalid(`${field}[${i}]`, `${JSON.stringify(s)} is not an IP address`)
    return stripPrefix(s)
  })
}

function parseValidAttachments (raw: Json): ContainerInterface[] {
  const key = raw['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments'
  const v = raw[key]
  // Without a list GC would release every allocation: refuse instead.
  if (v === undefined) throw invalid('cni.dev/valid-attachments', 'GC needs the list of attachments to keep')
  if (!Array.isArray(v)) throw invalid(key, 'expected an array of {containerID, ifname}')
  return v.map((a: unknown, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw invalid(`${key}[${i}]`, 'expected {containerID: string, ifname: string}')
    }
    const problem = fieldProblem('containerId', a.containerID) ?? fieldProblem('ifname', a.ifname)
    if (problem !== null) throw invalid(`${key}[${i}]`, problem)
    return { containerId: a.containerID, ifname: a.ifname }
  })
}

function parsePrevResult (v: unknown): { prevAddresses: string[], prevGateways: string[] } {
  if (!isObject(v)) throw invalid('prevResult', 'expected an object')
  if (v.ips === undefined) return { prevAddresses: [], prevGateways: [] }
  if (!Array.isArray(v.ips)) throw invalid('prevResult.ips', 'expected an array')
  const ips = v.ips.map((ip: unknown, i) => {
    if (!isObject(ip) || typeof ip.address !== 'string' || !isCidr(ip.address)) {
      throw invalid(`prevResult.ips[${i}].address`, 'expected a CIDR')
    }
    if (ip.gateway !== undefined && (typeof ip.gateway !== 'string' || !isAddress(ip.gateway))) {
      throw invalid(`prevResult.ips[${i}].gateway`, `${JSON.stringify(ip.gateway)} is not an IP address`)
    }
    return { address: ip.address, gateway: ip.gateway }
  })
  return {
    prevAddresses: ips.map(ip => ip.address),
    prevGateways: ips.flatMap(ip => ip.gateway === undefined ? [] : [ip.gateway])
  }
}
