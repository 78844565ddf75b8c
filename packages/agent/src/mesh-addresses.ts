/** The mesh's reading of addresses: peers given by DNS name, libp2p's allow list, a listen failure. */
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MeshError } from './errors.ts'

/**
 * A peer given by DNS name (a headless Service in Kubernetes names every node running an agent):
 * re-resolved on every reconnect pass, and each address becomes a dial target of its own.
 */
export interface DnsName {
  readonly name: string
  readonly port: string
  readonly family: 0 | 4 | 6
}

/** The name and port of a /dns, /dns4 or /dns6 multiaddr with /tcp and no peer id, else null. */
export function dnsName (addr: Multiaddr): DnsName | null {
  const [host, tcp, ...rest] = addr.getComponents()
  if (host === undefined || tcp?.name !== 'tcp' || rest.length > 0 || host.value === undefined) return null
  const family = host.name === 'dns4' ? 4 : host.name === 'dns6' ? 6 : host.name === 'dns' ? 0 : null
  if (family === null) return null
  return { name: host.value, port: tcp.value ?? '', family }
}

/** libp2p reports a taken port with a long multi-line message; name the setting and the cause. */
export function listenError (err: Error, listen: readonly string[]): Error {
  if (err.name !== 'UnsupportedListenAddressesError') return err
  const cause = /(E[A-Z]+[^\n]*)/.exec(err.message)?.[1] ?? err.message.split('\n')[0]
  return new MeshError(`WEFT_LISTEN: cannot listen on ${listen.join(', ')}: ${cause}`)
}

/** Loopback plus the IP of every configured peer, as libp2p's `allow` list wants them. */
export function exemptAddresses (peers: readonly string[]): string[] {
  const out = new Set(['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'])
  for (const p of peers) {
    const host = multiaddr(p).getComponents()[0]
    if (host?.name === 'ip4') out.add(`/ip4/${host.value ?? ''}/ipcidr/32`)
    if (host?.name === 'ip6') out.add(`/ip6/${host.value ?? ''}/ipcidr/128`)
  }
  return [...out]
}
