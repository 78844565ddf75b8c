/**
 * The node's gateway of each network: one address per network, reserved from this agent's own space
 * under a key no pod's attachment can have, so no pod ever gets it. DEL cannot name it and GC keeps it.
 */

/**
 * Attachment keys begin with a container id or a network name, and both begin with a letter or
 * digit: a key beginning with ':' is never a pod's. It splits at its last '/' like any key, so the
 * store's metadata reads back as container ':gateway', interface <network>.
 */
const GATEWAY_PREFIX = ':gateway/'

export const gatewayKey = (network: string): string => GATEWAY_PREFIX + network

export const isGatewayKey = (key: string): boolean => key.startsWith(GATEWAY_PREFIX)
