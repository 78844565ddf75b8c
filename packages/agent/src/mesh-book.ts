/**
 * The address book agents hand each other, so an agent given a few peers learns the whole mesh: on
 * every new connection each side sends the other the dial address of every peer it is connected to
 * (direct protocol PEERS_PROTOCOL), and the receiver dials those it is not connected to. A peer's
 * dial address is its listen port on the IP this agent sees it connect from (its identify report
 * lists every interface address, loopback and pod bridges included, and only that one IP is known to
 * reach it from here). Pure: the mesh does the I/O.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MeshError } from './errors.ts'

export const PEERS_PROTOCOL = '/weft/peers/1.0.0'
/** Entries one book may hold: more than any cluster weft supports (Kubernetes: 5,000 nodes). */
export const MAX_BOOK_ENTRIES = 10_000
/** Bytes a book may take: MAX_BOOK_ENTRIES entries of a peer id and an IPv6 multiaddr. */
export const MAX_BOOK_BYTES = MAX_BOOK_ENTRIES * 200

export interface BookEntry {
  /** The libp2p peer id, as a string. */
  readonly peer: string
  /** A TCP multiaddr without the peer id. */
  readonly addr: string
}

const hostOf = (m: Multiaddr): { name: string, value: string } | null => {
  const [host, tcp] = m.getComponents()
  if (host === undefined || host.value === undefined || tcp?.name !== 'tcp' || tcp.value === undefined) return null
  return host.name === 'ip4' || host.name === 'ip6' ? { name: host.name, value: host.value } : null
}

/**
 * Where to dial a connected peer: the listen address on the IP the connection comes from; else, for
 * an unspecified listen address (0.0.0.0, ::), that IP with its port. Null when neither exists
 * (a relayed or NATed peer this agent cannot dial back).
 */
export function dialAddress (listen: readonly Multiaddr[], remote: Multiaddr): Multiaddr | null {
  const seen = hostOf(remote)
  if (seen === null) return null
  for (const l of listen) {
    const h = hostOf(l)
    if (h !== null && h.name === seen.name && h.value === seen.value) return multiaddr(`/${h.name}/${h.value}/tcp/${l.getComponents()[1]!.value!}`)
  }
  for (const l of listen) {
    const h = hostOf(l)
    if (h !== null && h.name === seen.name && (h.value === '0.0.0.0' || h.value === '::')) return multiaddr(`/${seen.name}/${seen.value}/tcp/${l.getComponents()[1]!.value!}`)
  }
  return null
}

export function encodeBook (entries: readonly BookEntry[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(entries.slice(0, MAX_BOOK_ENTRIES)))
}

/** The entries of a book from the network; throws a MeshError naming what is wrong with it. */
export function decodeBook (data: Uint8Array): BookEntry[] {
  if (data.length > MAX_BOOK_BYTES) throw new MeshError(`address book of ${data.length} bytes is over ${MAX_BOOK_BYTES}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch (err) {
    throw new MeshError(`address book is not JSON: ${(err as Error).message}`)
  }
  if (!Array.isArray(parsed)) throw new MeshError('address book is not a list')
  if (parsed.length > MAX_BOOK_ENTRIES) throw new MeshError(`address book of ${parsed.length} entries is over ${MAX_BOOK_ENTRIES}`)
  return parsed.map((e: unknown, i) => {
    const entry = e as Partial<BookEntry> | null
    if (typeof entry?.peer !== 'string' || entry.peer === '' || typeof entry.addr !== 'string') throw new MeshError(`address book entry ${i} is not {peer, addr}`)
    let m: Multiaddr
    try {
      m = multiaddr(entry.addr)
    } catch {
      throw new MeshError(`address book entry ${i}: "${entry.addr.slice(0, 100)}" is not a multiaddr`)
    }
    if (hostOf(m) === null || m.getComponents().length !== 2) throw new MeshError(`address book entry ${i}: "${entry.addr.slice(0, 100)}" is not an IP and TCP port`)
    return { peer: entry.peer, addr: m.toString() }
  })
}
