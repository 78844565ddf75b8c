import { familyOf, stripPrefix } from './address.ts'
import type { Dns, Route } from './config.ts'
import { CniCode, CniError } from './errors.ts'
import type { CniVersion } from './versions.ts'

/** One address of the result, from one pool. */
export interface ResultIp {
  /** The address alone. */
  address: string
  /** The prefix of the pool's whole range: pods see each other on-link. */
  prefixLength: number
  /** This node's gateway of the network in that pool, when the config asks for one. */
  gateway?: string
}

/** What an ADD found, independent of the spec version it is printed in. */
export interface IpamResult {
  /** One per pool, in the order the pools were asked for. */
  ips: ResultIp[]
  routes: Route[]
  dns: Dns
}

const cidrOf = (ip: ResultIp): string => `${ip.address}/${ip.prefixLength}`
const gatewayOf = (ip: ResultIp): { gateway?: string } => ip.gateway === undefined ? {} : { gateway: ip.gateway }

/**
 * The IPAM result JSON in the layout of the config's version (IPAM form: no interfaces). Throws
 * CniError 7 when 0.1.0/0.2.0, which carry one address per family, would have to drop one.
 */
export function formatResult (version: CniVersion, r: IpamResult): Record<string, unknown> {
  if (version === '0.1.0' || version === '0.2.0') return formatLegacy(version, r)
  // libcni's result types omit an empty route list but always print `dns`.
  const routes = r.routes.length === 0 ? {} : { routes: r.routes }
  const ips = r.ips.map(ip => version.startsWith('0.')
    ? { version: String(familyOf(ip.address)), address: cidrOf(ip), ...gatewayOf(ip) }
    : { address: cidrOf(ip), ...gatewayOf(ip) })
  return { cniVersion: version, ips, ...routes, dns: r.dns }
}

/** `ip4` and `ip6`, each with the routes of its family (as libcni converts a newer result). */
function formatLegacy (version: CniVersion, r: IpamResult): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion: version }
  for (const family of [4, 6] as const) {
    const of = r.ips.filter(ip => familyOf(ip.address) === family)
    if (of.length > 1) {
      throw new CniError(CniCode.invalidConfig, `config version ${version} carries one IPv${family} address, but the pools gave ${of.map(cidrOf).join(', ')}: use cniVersion 0.3.0 or later`)
    }
    const ip = of[0]
    if (ip === undefined) continue
    const routes = r.routes.filter(route => familyOf(stripPrefix(route.dst)) === family)
    out[`ip${family}`] = { ip: cidrOf(ip), ...gatewayOf(ip), ...(routes.length === 0 ? {} : { routes }) }
  }
  return { ...out, dns: r.dns }
}
