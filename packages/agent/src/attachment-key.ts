/**
 * The key the core and the store index an allocation by: `network/containerId/ifname`. No part may
 * contain '/' (see the protocol's attachment rules), so a key splits back unambiguously.
 */
import type { Attachment } from '@weft/protocol'

export function attachmentKey (a: Attachment): string {
  return keyOf(a.network, a.containerId, a.ifname)
}

/** The key of the attachment with these parts. */
export function keyOf (network: string, containerId: string, ifname: string): string {
  return `${network}/${containerId}/${ifname}`
}

/** The attachment a key was made from; throws if `key` is not one. */
export function attachmentOfKey (key: string): Attachment {
  const parts = key.split('/')
  const [network, containerId, ifname] = parts
  if (parts.length !== 3 || network === undefined || containerId === undefined || ifname === undefined) {
    throw new Error(`"${key}" is not an attachment key (network/containerId/ifname)`)
  }
  return { network, containerId, ifname }
}
