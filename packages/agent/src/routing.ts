/**
 * The agent's side of the data plane: this node's address, and the reconcile loop fed with every ring
 * the agent commits. Routing trouble is logged and counted, never fatal: allocation goes on without it.
 */
import { parseAddress } from '@weft/ring'
import type { PeerId, RingState, Universe } from '@weft/ring'
import { Kernel, Reconciler } from '@weft/routes'
import type { RoutingConfig } from './config.ts'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'

/** Looked up, never sent to: a documentation address stands for "anywhere off this node". */
const PROBE = { 4: '192.0.2.1', 6: '2001:db8::1' } as const

/**
 * WEFT_NODE_IP if given. Else, with routing on, the source address of this node's route towards the
 * first peer in WEFT_PEERS given as an address of the range's family, or else of its default route.
 * Null when there is none: other nodes then cannot route to this node's pods (they log it).
 */
export async function thisNodeAddress (config: RoutingConfig, universe: Universe, peers: readonly string[], log: Logger): Promise<string | null> {
  if (config.nodeIp !== null || config.mode === 'none') return config.nodeIp
  const kernel = new Kernel()
  const peerIp = peers.map(p => /^\/ip[46]\/([^/]+)\//.exec(p)?.[1]).find(ip => ip !== undefined && parseAddress(ip).family === universe.family)
  const towards = peerIp ?? PROBE[universe.family]
  const found = await kernel.sourceTowards(towards).catch(() => null)
  if (found === null) log.warn({ towards }, 'no node address: no route to find a source address by; set WEFT_NODE_IP, or other nodes cannot reach this node\'s pods')
  else log.info({ address: found, towards }, 'node address from the route towards a peer (WEFT_NODE_IP unset)')
  return found
}

export interface Routing {
  /** A ring the agent committed; the routes follow it. */
  readonly update: (ring: RingState) => void
  /** Resolves once the passes asked for so far are done (each bounded; a failure is retried later). */
  readonly idle: () => Promise<void>
  readonly stop: () => Promise<void>
}

export function startRouting (config: RoutingConfig, universe: Universe, self: PeerId, address: string | null, metrics: Metrics, log: Logger): Routing | null {
  if (config.mode === 'none') return null
  const mode = config.mode
  let count = (): void => {}
  const r = new Reconciler({ kernel: new Kernel(), log, intervalMs: config.intervalMs, failed: () => count() })
  count = metrics.watchRoutes(() => r.stats)
  log.info({ mode, address, bridge: config.bridge }, 'routing between nodes')
  return {
    update: ring => r.update({ universe, ring, self, selfAddress: address, mode, bridge: config.bridge }),
    idle: async () => await r.idle(),
    stop: async () => {
      // The routes stay in the kernel: running pods keep their connectivity while the agent is away.
      r.stop()
      await r.idle()
    }
  }
}
