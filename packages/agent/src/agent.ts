/**
 * One agent: identity, store, core peer, mesh, Ready loop, socket API and metrics, started in that
 * order and stopped in reverse. The core does the thinking; this wires its inputs and outputs.
 */
import { createPeer, parseUniverse } from '@weft/ring'
import type { Peer, PersistDelta, PersistedPeer, Universe } from '@weft/ring'
import type { StatusResponse } from '@weft/protocol'
import { formatInit, timeoutsInTicks } from './config.ts'
import type { AgentConfig } from './config.ts'
import { routes } from './api.ts'
import { Driver } from './driver.ts'
import { loadOrCreateIdentity } from './identity.ts'
import type { Identity } from './identity.ts'
import { logEvent } from './core-events.ts'
import { createLogger } from './log.ts'
import type { Logger } from './log.ts'
import { isIP } from 'node:net'
import { listNodes, nodeAddress } from './kube.ts'
import type { KubeNode } from './kube.ts'
import { Mesh, type MeshOptions } from './mesh.ts'
import { removedEverywhere } from './mesh-dials.ts'
import { meshHandlers, sendOut, sendRetire } from './mesh-pools.ts'
import { Retirement } from './retire.ts'
import { randomUUID } from 'node:crypto'
import { Metrics } from './metrics.ts'
import { Ops, takeOver } from './ops.ts'
import { Pools } from './pool.ts'
import type { Pool } from './pool.ts'
import type { PoolConfig } from './pools-config.ts'
import { startNodeSource } from './node-source.ts'
import type { NodeSource } from './node-source.ts'
import { startReclaimer } from './reclaimer.ts'
import { announcedAddress, startRouting, thisNodeAddresses } from './routing.ts'
import type { Routing } from './routing.ts'
import { startSocketServer } from './server.ts'
import { gauges, statusBody } from './status.ts'
import type { PoolFacts } from './status.ts'
import { Store } from './store.ts'
import { IDLE_AFTER_MS, Ticker } from './ticker.ts'
import { StoreError } from './errors.ts'
import type { AttachmentMeta, Durability, PoolStore } from './store.ts'
import { readSwarmKey } from './swarm-key.ts'

/** How often the core's full invariant checks run. */
const CHECK_INTERVAL_MS = 5_000
/** How long the other agents have to say whether they hold addresses in a pool being retired. */
const RETIRE_ANSWER_MS = 5_000
/** Bound on one call to the Kubernetes API. */
const KUBE_TIMEOUT_MS = 10_000

export interface Agent {
  /** Resolves (never rejects) with the reason if the agent fails while running and must stop. */
  readonly failed: Promise<Error>
  /** Stops taking requests, finishes in-flight ones, flushes the store, leaves the mesh. Idempotent. */
  stop: () => Promise<void>
}

export async function startAgent (config: AgentConfig): Promise<Agent> {
  const stops: Stop[] = []
  // Each step registers its own stop as soon as it has something to stop; they run in reverse.
  const onStop = (stop: Stop): void => { stops.unshift(stop) }
  const node = await openNode(config)
  onStop(async () => await node.store.close())
  const { log } = node
  try {
    const routing = await startNodeRouting(node, onStop)
    const mesh = await Mesh.open(meshOptions(node))
    const clock = new Ticker(config.tickMs, IDLE_AFTER_MS, config.idleWakeMs)
    const { pools, failed } = startLoops(node, mesh, routing, clock, onStop)
    const retirement = startRetirement(node, pools, mesh, routing)
    await mesh.start(meshHandlers(pools, retirement, node.log, node.metrics))
    onStop(async () => await mesh.stop())
    startTimers(node, pools, clock, onStop)
    const nodeSource = startKubernetes(node, pools, mesh, await node.store.loadNodesSeen(), onStop)
    await startServices(node, { pools, retirement, mesh, nodeSource }, onStop)
    log.info({
      range: node.first.universe.cidr,
      pools: node.pools.map(p => ({
        pool: p.name,
        range: p.universe.cidr,
        draining: p.draining,
        restored: p.persisted === undefined ? null : { allocations: p.persisted.allocations.length, entries: p.persisted.ring.entries.length }
      })),
      defaults: config.pools.defaults,
      init: node.init,
      listen: mesh.listenAddresses(),
      socket: config.socketPath
    }, 'agent started')

    let stopping: Promise<void> | null = null
    return {
      failed,
      stop: async () => {
        stopping ??= runStops(stops, log)
        await stopping
      }
    }
  } catch (err) {
    await runStops(stops, log)
    throw err
  }
}

type Stop = () => Promise<void>

/** One pool's core peer, restored from its part of the store. */
interface PoolNode {
  readonly name: string
  readonly universe: Universe
  readonly draining: boolean
  /** Its pods' bridge from WEFT_POOLS; null: WEFT_BRIDGE. */
  readonly bridge: string | null
  readonly store: PoolStore
  readonly persisted: PersistedPeer<AttachmentMeta> | undefined
  readonly peer: Peer<AttachmentMeta>
  readonly log: Logger
}

/** What every later step reads: the config, this node's identity and store, and a core peer per pool. */
interface Node {
  readonly config: AgentConfig
  /** The init mode in WEFT_INIT's words. */
  readonly init: string
  readonly identity: Identity
  readonly log: Logger
  readonly swarmKey: Uint8Array | null
  readonly store: Store
  /** In configuration order; the first is IPALLOC_RANGE's first pool, which routing follows. A retired pool leaves. */
  readonly pools: PoolNode[]
  readonly first: PoolNode
  /** This node's addresses (routing's; the first is the tunnel's local end). */
  readonly addresses: readonly string[]
  readonly metrics: Metrics
}

/** Identity, swarm key, node address, store, and each pool's core peer restored from the store (closed again if that fails). */
async function openNode (config: AgentConfig): Promise<Node> {
  const init = formatInit(config.init)
  const identity = await loadOrCreateIdentity(config.dataDir)
  const log = createLogger(config.logLevel, { nickname: config.nickname, peer: identity.peerId })
  const swarmKey = config.swarmKeyFile === null ? null : await readSwarmKey(config.swarmKeyFile)
  if (swarmKey === null) log.warn('no WEFT_SWARM_KEY_FILE: any host that can reach the listen port may join the mesh')
  else if (swarmKey.exposed) log.warn({ file: config.swarmKeyFile }, 'the swarm key file is readable by group or others; make it 0600')

  const configured = config.pools.pools
  const universes = configured.map(poolUniverse)
  const addresses = await thisNodeAddresses(config.routing, universes.map(u => u.family), config.peers, log)
  const store = await Store.open(config.dataDir, Object.fromEntries(configured.map(p => [p.name, p.range])), config.migrateNetwork)
  const m = store.migrated
  if (m !== null && m.allocations > 0) {
    // Schema 1 had no networks: its allocations were given WEFT_MIGRATE_NETWORK's.
    log.info({ event: 'allocations-migrated', from: m.from, allocations: m.allocations, ...(m.from === 1 ? { network: config.migrateNetwork } : {}) }, `migrated the allocations of a schema-${m.from} store to one record each`)
  }
  for (const [pool, range] of store.unconfigured) {
    log.warn({ event: 'pool-unconfigured', pool, range }, 'the store holds a pool the configuration does not name: kept as it is, not served')
  }
  try {
    const retiredDefault = config.pools.defaults.find(name => store.retired.has(name))
    if (retiredDefault !== undefined) throw new StoreError(`pool ${retiredDefault} was retired on this node (weft pool retire), but it is a default pool; mark another pool "default": true in WEFT_POOLS`)
    const pools: PoolNode[] = []
    for (const [i, p] of configured.entries()) {
      if (store.retired.has(p.name)) {
        log.warn({ event: 'pool-retired', pool: p.name }, 'the configuration names a pool retired on this node: not served; remove it from WEFT_POOLS')
        continue
      }
      const universe = universes[i]!
      const poolStore = store.pool(p.name)
      const persisted = await poolStore.load()
      const peer = createPeer<AttachmentMeta>({
        id: identity.peerId,
        nickname: config.nickname,
        // Each pool announces the node address of its family: direct routes of that family go there.
        ...(announced(addresses, universe)),
        universe,
        init: config.init,
        random: Math.random,
        // Full invariant checks cost O(allocations) per call: run them on a timer instead (startTimers).
        checks: false,
        ...(persisted === undefined ? {} : { persisted }),
        // The core answers a waiting request before the socket's own bound does (opsTimeoutMs).
        timeouts: timeoutsInTicks(config)
      })
      throwIfBroken(peer.checkInvariants())
      pools.push({ name: p.name, universe, draining: p.draining, bridge: p.bridge, store: poolStore, persisted, peer, log: log.child({ pool: p.name }) })
    }
    const first = pools[0]!
    const metrics = new Metrics(() => new Map(pools.map(p => [p.name, gauges(p.peer.status())])))
    return { config, init, identity, log, swarmKey: swarmKey?.bytes ?? null, store, pools, first, addresses, metrics }
  } catch (err) {
    await store.close()
    throw err
  }
}

function announced (addresses: readonly string[], universe: Universe): { address?: string } {
  const address = announcedAddress(addresses, universe.family)
  return address === null ? {} : { address }
}

/** A pool's range with its reserved addresses, which the core keeps out of every peer's free space. */
function poolUniverse (p: PoolConfig): Universe {
  return { ...parseUniverse(p.range), reserved: p.reserved }
}

async function startNodeRouting (n: Node, onStop: (stop: Stop) => void): Promise<Routing | null> {
  // The kernel may hold routes from before a restart: they are brought in line with the rings at once.
  const pools = n.pools.map(p => ({ name: p.name, universe: p.universe, ring: p.peer.ring(), bridge: p.bridge }))
  const routing = startRouting(n.config.routing, n.identity.peerId, n.addresses, pools, n.metrics, n.log.child({ part: 'routes' }))
  if (routing === null) return null
  onStop(routing.stop)
  // Before the socket serves the first ADD: the bridge exists with its pinned MAC and proxy ARP, so
  // the bridge plugin never makes it in a race with this agent (its MAC would float with its ports).
  await routing.idle()
  return routing
}

/** A Ready loop per pool: the core's batches to the pool's store (and routes), its messages to the mesh. */
function startLoops (n: Node, mesh: Mesh, routing: Routing | null, clock: Ticker, onStop: (stop: Stop) => void): { pools: Pools, failed: Promise<Error> } {
  const { metrics } = n
  let reportFailure: (err: Error) => void = () => undefined
  const failed = new Promise<Error>(resolve => { reportFailure = resolve })
  const pools = n.pools.map((p): Pool => {
    const committed = (delta: PersistDelta<AttachmentMeta>, durability: Durability, started: number): void => {
      if (durability !== 'empty') metrics.commitSeconds(durability, (performance.now() - started) / 1000)
      if (delta.ring !== undefined) {
        routing?.update({ name: p.name, universe: p.universe, ring: delta.ring, bridge: p.bridge })
        mesh.forget(removedEverywhere(delta.ring, n.pools.filter(q => q !== p).map(q => q.peer.ring())))
      }
    }
    const driver = new Driver(p.peer, {
      // A journalled batch is written when the store returns: done at once, with no promise or step
      // after it (garbage on every allocation's path); anything else is a step after the store's promise.
      commit: delta => {
        const started = performance.now()
        const written = p.store.commit(delta)
        if (typeof written === 'string') {
          committed(delta, written, started)
          return null
        }
        return written.then(durability => { committed(delta, durability, started) })
      },
      send: out => sendOut(mesh, metrics, p.name, out),
      event: e => {
        logEvent(p.log, p.universe, e)
        if (e.kind === 'conflict') metrics.conflict()
        // A message or ring the core refused (bad fields, another range, other seeds): the sender's fault.
        if (e.kind === 'rejected-ring') metrics.badMessage()
        if (e.kind === 'removed-self') reportFailure(new Error(`this peer was removed from the ring of pool ${p.name} by ${e.heir ?? 'a takeover compacted away since'} (weft rmpeer); its data dir must not be reused`))
      },
      fatal: reportFailure,
      clock
    }, p.log)
    // Runs after the mesh has stopped and before the store closes: the last batch lands.
    onStop(async () => await driver.idle())
    return { name: p.name, universe: p.universe, peer: p.peer, driver, allocations: p.store.allocations, draining: p.draining }
  })
  return { pools: new Pools(pools, n.config.pools.defaults), failed }
}

function meshOptions (n: Node): MeshOptions {
  const { config } = n
  return {
    privateKey: n.identity.privateKey,
    listen: config.listen,
    peers: config.peers,
    swarmKey: n.swarmKey,
    reconnectMs: config.reconnectMs,
    pingMs: config.pingMs,
    log: n.log
  }
}

/** Every core's clock (slower while idle: ticker.ts), and its full invariant checks every CHECK_INTERVAL_MS of ticks. */
function startTimers (n: Node, pools: Pools, clock: Ticker, onStop: (stop: Stop) => void): void {
  const { config } = n
  const checkEvery = Math.max(1, Math.round(CHECK_INTERVAL_MS / config.tickMs))
  let ticks = 0
  clock.start({
    tick: count => {
      const check = Math.floor((ticks + count) / checkEvery) > Math.floor(ticks / checkEvery)
      ticks += count
      let output = false
      for (const { driver, peer } of pools.all) {
        driver.input(() => {
          for (let i = 0; i < count; i++) peer.tick()
          // A failed check is a bug in the core: the driver treats the throw as fatal and the agent stops.
          if (check) throwIfBroken(peer.checkInvariants())
        })
        output ||= peer.hasReady()
      }
      return output
    },
    waiting: () => pools.all.reduce((sum, p) => sum + p.driver.waiting, 0),
    now: () => performance.now()
  })
  onStop(async () => {
    clock.stop()
    await Promise.all(pools.all.map(async p => await p.driver.idle()))
  })
}

/** Retiring pools: the flow over the mesh, and the drop of a retired pool's loop and state. */
function startRetirement (n: Node, pools: Pools, mesh: Mesh, routing: Routing | null): Retirement {
  return new Retirement({
    self: n.identity.peerId,
    pools,
    publish: m => sendRetire(mesh, 'all', m),
    send: (to, m) => sendRetire(mesh, to, m),
    drop: async name => {
      const pool = pools.find(name)
      if (pool === undefined) return
      pools.remove(name)
      await pool.driver.idle()
      await n.store.retirePool(name)
      n.pools.splice(n.pools.findIndex(p => p.name === name), 1)
      // Its routes go with it (it was empty: no pod anywhere holds an address in it).
      routing?.drop(name)
    },
    retired: () => n.store.retired,
    timeoutMs: RETIRE_ANSWER_MS,
    newId: () => randomUUID(),
    log: n.log
  })
}

/** The Node list's reader, when configured: mesh discovery, Kubernetes init, and reclaim. */
function startKubernetes (n: Node, pools: Pools, mesh: Mesh, seen: readonly string[], onStop: (stop: Stop) => void): NodeSource | null {
  const { config, store, metrics, log } = n
  const kube = config.kube
  if (kube === null) return null
  const reclaimer = kube.reclaim
    ? startReclaimer({
      owners: () => n.first.peer.status().peers,
      // Every pool whose ring knows the peer: its node is gone from all of them.
      rmpeer: async target => (await Promise.all(pools.all.filter(p => p.peer.ring().members.some(m => m.peer === target))
        .map(async p => await takeOver({ ...p, requestTimeoutMs: opsTimeoutMs(config) }, target, false)))).reduce((a, b) => a + b, 0n),
      seen,
      saveSeen: async names => await store.saveNodesSeen(names),
      reclaimed: () => metrics.reclaimed(),
      log: log.child({ part: 'reclaim' })
    })
    : null
  const source = startNodeSource({
    api: kube.api.href,
    list: async signal => await listNodes({ api: kube.api, secretsDir: kube.secretsDir, timeoutMs: KUBE_TIMEOUT_MS, signal }),
    intervalMs: kube.pollMs,
    random: Math.random,
    log: log.child({ part: 'nodes' }),
    onNodes: nodes => {
      if (kube.discovery) mesh.setDiscovered(peerAddresses(nodes, config.nickname, kube.meshPort))
      if (config.init.kind === 'kubernetes') {
        for (const { driver, peer } of pools.all) driver.input(() => peer.setNodes(nodes.map(n => ({ name: n.name, created: n.created }))))
      }
      reclaimer?.nodes(new Set(nodes.map(n => n.name)))
    }
  })
  onStop(async () => {
    source.stop()
    reclaimer?.stop()
  })
  return source
}

/** The socket API, and the metrics endpoint when configured. */
async function startServices (
  n: Node,
  parts: { pools: Pools, retirement: Retirement, mesh: Mesh, nodeSource: NodeSource | null },
  onStop: (stop: Stop) => void
): Promise<void> {
  const { config, metrics } = n
  const { pools, retirement, mesh, nodeSource } = parts
  const poolFacts = (): PoolFacts[] => pools.all.map(p => ({ pool: p.name, draining: p.draining, default: pools.defaults.includes(p.name), status: p.peer.status() }))
  const status = (): StatusResponse => statusBody(poolFacts(), {
    init: n.init,
    connections: mesh.connectionCount(),
    badMessages: metrics.badMessages,
    kubernetes: nodeSource?.state() ?? null
  })
  const ops = new Ops({ pools, retirement, requestTimeoutMs: opsTimeoutMs(config), clock: Date.now, status })
  const server = await startSocketServer(config.socketPath, routes(ops), n.log)
  onStop(async () => await server.close())
  if (config.metricsAddr !== null) onStop(await metrics.serve(config.metricsAddr))
}

/** The loop's bound on one core request: past the core's own (config.requestTimeoutMs), which answers first. */
function opsTimeoutMs (config: AgentConfig): number {
  return config.requestTimeoutMs + 1_000
}

/** Every other node's agent, at its node address and the mesh port (nodes without an address are skipped). */
function peerAddresses (nodes: readonly KubeNode[], self: string, port: number): string[] {
  return nodes.flatMap(n => {
    const ip = n.name === self ? null : nodeAddress(n)
    return ip === null ? [] : [`/${isIP(ip) === 6 ? 'ip6' : 'ip4'}/${ip}/tcp/${port}`]
  })
}

function throwIfBroken (err: Error | null): void {
  if (err !== null) throw err
}

async function runStops (steps: readonly Stop[], log: Logger): Promise<void> {
  for (const step of steps) {
    try {
      await step()
    } catch (err) {
      log.error({ err }, 'error while stopping')
    }
  }
  log.info('agent stopped')
}
