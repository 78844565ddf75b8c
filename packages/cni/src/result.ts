import { familyOf } from './address.ts'
import type { Dns, Route } from './config.ts'
import type { CniVersion } from './versions.ts'

/** What an ADD found, independent of the spec version it is printed in. */
export interface IpamResult {
  /** The address alone. */
  address: string
  /** The prefix of the whole range: pods see each other on-link. */
  prefixLength: number
  gateway?: string
  routes: Route[]
  dns: Dns
}

/** The IPAM result JSON in the layout of the config's version (IPAM form: no interfaces). */
export function formatResult (version: CniVersion, r: IpamResult): Record<string, unknown> {
  const cidr = `${r.address}/${r.prefixLength}`
  const family = familyOf(r.address)
  const gateway = r.gateway === undefined ? {} : { gateway: r.gateway }
  // libcni's result types omit an empty route list but always print `dns`.
  const routes = r.routes.length === 0 ? {} : { routes: r.routes }
  if (version === '0.1.0' || version === '0.2.0') {
    return { cniVersion: version, [family === 6 ? 'ip6' : 'ip4']: { ip: cidr, ...gateway, ...routes }, dns: r.dns }
  }
  const ip = version.startsWith('0.') ? { version: String(family), address: cidr, ...gateway } : { address: cidr, ...gateway }
  return { cniVersion: version, ips: [ip], ...routes, dns: r.dns }
}
