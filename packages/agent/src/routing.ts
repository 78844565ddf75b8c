/**
 * The agent's side of the data plane: this node's addresses, and the reconcile loop fed with every
 * ring the agent commits, of every pool. Routing trouble is logged and counted, never fatal:
 * allocation goes on without it.
 */
import { parseAddress } from '@weft/ring'
import type { PeerId, RingState, Universe } from '@weft/ring'
import { Kernel, Reconciler } from '@weft/routes'
import type { Family, PoolRing } from '@weft/routes'
import type { RoutingConfig } from './config.ts'
import type { Logger } from './log.ts'
import type { Metrics } from './metrics.ts'

/** Looked up, never sent to: a documentation address stands for "anywhere off this node". */
const PROBE = { 4: '192.0.2.1', 6: '2001:db8::1' } as const

/**
 * WEFT_NODE_IP if given (one address per family). Else, with routing on, for each family in
 * `families` (the pools', the first pool's first), the source address of this node's route towards
 * the first peer in WEFT_PEERS given as an address of that family, or else of its default route of
 * that family. The first is the tunnel's local end. Empty when there is none: other nodes then
 * cannot route to this node's pods (they log it).
 */
export async function thisNodeAddresses (config: RoutingConfig, families: readonly Family[], peers: readonly string[], log: Logger): Promise<string[]> {
  if (config.nodeIps.length > 0 || config.mode === 'none') return [...config.nodeIps]
  const kernel = new Kernel()
  const found: string[] = []
  for (const family of [...new Set(families)]) {
    const peerIp = peers.map(p => /^\/ip[46]\/([^/]+)\//.exec(p)?.[1]).find(ip => ip !== undefined && parseAddress(ip).family === family)
    const towards = peerIp ?? PROBE[family]
    const address = await kernel.sourceTowards(towards).catch(() => null)
    if (address === null) {
      // The first family is the tunnel's; another family without a route is only logged at debug level.
      if (found.length === 0) log.warn({ towards }, 'no node address: no route to find a source address by; set WEFT_NODE_IP, or other nodes cannot reach this node\'s pods')
      else log.debug({ towards }, 'no node address of this family (WEFT_NODE_IP unset)')
      continue
    }
    log.info({ address, towards }, 'node address from the route towards a peer (WEFT_NODE_IP unset)')
    found.push(address)
  }
  return found
}

/**
 * The node address a pool's member record announces: the one of the pool's family when this node has
 * it (direct routes of that family go there), else the first (a tunnel carries every family).
 */
export function announcedAddress (addresses: readonly string[], family: Family): string | null {
  return addresses.find(a => parseAddress(a).family === family) ?? addresses[0] ?? null
}

/** A pool as routing sees it. */
export interface RoutedPool {
  readonly name: string
  readonly universe: Universe
  readonly ring: RingState
}

export interface Routing {
  /** A ring the agent committed for a pool (a new pool too); the routes follow it. */
  readonly update: (pool: RoutedPool) => void
  /** A pool the agent no longer serves (retired): its routes go. */
  readonly drop: (pool: string) => void
  /** Resolves once the passes asked for so far are done (each bounded; a failure is retried later). */
  readonly idle: () => Promise<void>
  readonly stop: () => Promise<void>
}

/**
 * Starts the loop with every pool the agent serves at once: a plan made before all of them were in
 * would remove the routes of the missing ones, which the kernel kept over a restart.
 */
export function startRouting (config: RoutingConfig, self: PeerId, addresses: readonly string[], pools: readonly RoutedPool[], metrics: Metrics, log: Logger): Routing | null {
  if (config.mode === 'none') return null
  const mode = config.mode
  let count = (): void => {}
  const r = new Reconciler({ kernel: new Kernel(), log, intervalMs: config.intervalMs, failed: () => count() })
  count = metrics.watchRoutes(() => r.stats)
  const current = new Map<string, PoolRing>(pools.map(p => [p.name, { universe: p.universe, ring: p.ring }]))
  const replan = (): void => r.update({ pools: [...current.values()], self, selfAddresses: addresses, mode, bridge: config.bridge })
  log.info({ mode, addresses, bridge: config.bridge, pools: pools.map(p => p.name) }, 'routing between nodes')
  replan()
  return {
    update: pool => {
      current.set(pool.name, { universe: pool.universe, ring: pool.ring })
      replan()
    },
    drop: pool => {
      if (current.delete(pool)) replan()
    },
    idle: async () => await r.idle(),
    stop: async () => {
      // The routes stay in the kernel: running pods keep their connectivity while the agent is away.
      r.stop()
      await r.idle()
    }
  }
}
