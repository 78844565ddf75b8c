/**
 * The node's gateway of each network: one address per network, reserved from this agent's own space
 * under a key no pod's attachment can have, so no pod ever gets it. DEL cannot name it and GC keeps it.
 */
import type { Attachment } from '@weft/protocol'
import { attachmentKey } from './attachment-key.ts'

/**
 * A container id begins with a letter or digit, so none is ':gateway': the key is never a pod's. It
 * is an attachment key like any other (network/containerId/ifname), so the store and `weft ps` read
 * it back as container ':gateway', interface 'gateway' of its network.
 */
export const GATEWAY_CONTAINER = ':gateway'

export const gatewayAttachment = (network: string): Attachment => ({ network, containerId: GATEWAY_CONTAINER, ifname: 'gateway' })

export const gatewayKey = (network: string): string => attachmentKey(gatewayAttachment(network))
