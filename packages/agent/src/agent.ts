/**
 * One agent: identity, store, core peer, mesh, Ready loop, socket API and metrics, started in that
 * order and stopped in reverse. The core does the thinking; this wires its inputs and outputs.
 */
import { createPeer, decodeMessage, encodeMessage, formatRange, NewerCodecError, parseUniverse } from '@weft/ring'
import type { CoreEvent, Message, Outbound, Peer, PeerId, PersistedPeer, Universe } from '@weft/ring'
import type { StatusResponse } from '@weft/protocol'
import { formatInit, timeoutsInTicks } from './config.ts'
import type { AgentConfig } from './config.ts'
import { routes } from './api.ts'
import { Driver } from './driver.ts'
import { loadOrCreateIdentity } from './identity.ts'
import type { Identity } from './identity.ts'
import { createLogger } from './log.ts'
import type { Logger } from './log.ts'
import { isIP } from 'node:net'
import { listNodes, nodeAddress } from './kube.ts'
import type { KubeNode } from './kube.ts'
import { Mesh } from './mesh.ts'
import type { MeshHandlers, MeshOptions } from './mesh.ts'
import { Metrics } from './metrics.ts'
import { Ops, takeOver } from './ops.ts'
import { startNodeSource } from './node-source.ts'
import type { NodeSource } from './node-source.ts'
import { startReclaimer } from './reclaimer.ts'
import { startRouting, thisNodeAddress } from './routing.ts'
import type { Routing } from './routing.ts'
import { startSocketServer } from './server.ts'
import { gauges, statusBody } from './status.ts'
import { Store } from './store.ts'
import type { AttachmentMeta } from './store.ts'
import { readSwarmKey } from './swarm-key.ts'

/** How often the core's full invariant checks run. */
const CHECK_INTERVAL_MS = 5_000
/** Peers speaking a newer codec that are named in the log; more are only counted. */
const MAX_NEWER_SENDERS_LOGGED = 1_000
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
    const { driver, failed } = startLoop(node, mesh, routing, onStop)
    await mesh.start(meshHandlers(node, driver))
    onStop(async () => await mesh.stop())
    startTimers(node, driver, onStop)
    const nodeSource = startKubernetes(node, driver, mesh, await node.store.loadNodesSeen(), onStop)
    await startServices(node, { driver, mesh, nodeSource }, onStop)
    log.info({
      range: node.universe.cidr,
      init: node.init,
      listen: mesh.listenAddresses(),
      socket: config.socketPath,
      restored: node.persisted === undefined ? null : { allocations: node.persisted.allocations.length, entries: node.persisted.ring.entries.length }
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

/** What every later step reads: the config, this node's identity and store, and its core peer. */
interface Node {
  readonly config: AgentConfig
  readonly universe: Universe
  /** The init mode in WEFT_INIT's words. */
  readonly init: string
  readonly identity: Identity
  readonly log: Logger
  readonly swarmKey: Uint8Array | null
  readonly store: Store
  readonly persisted: PersistedPeer<AttachmentMeta> | undefined
  readonly peer: Peer<AttachmentMeta>
  readonly address: string | null
  readonly metrics: Metrics
}

/** Identity, swarm key, node address, store, and the core peer restored from the store (closed again if that fails). */
async function openNode (config: AgentConfig): Promise<Node> {
  const universe = parseUniverse(config.range)
  const init = formatInit(config.init)
  const identity = await loadOrCreateIdentity(config.dataDir)
  const log = createLogger(config.logLevel, { nickname: config.nickname, peer: identity.peerId })
  const swarmKey = config.swarmKeyFile === null ? null : await readSwarmKey(config.swarmKeyFile)
  if (swarmKey === null) log.warn('no WEFT_SWARM_KEY_FILE: any host that can reach the listen port may join the mesh')
  else if (swarmKey.exposed) log.warn({ file: config.swarmKeyFile }, 'the swarm key file is readable by group or others; make it 0600')

  const address = await thisNodeAddress(config.routing, universe, config.peers, log)
  const store = await Store.open(config.dataDir, universe.cidr, config.migrateNetwork)
  const m = store.migrated
  if (m !== null && m.allocations > 0) {
    // Schema 1 had no networks: its allocations were given WEFT_MIGRATE_NETWORK's.
    log.info({ event: 'allocations-migrated', from: m.from, allocations: m.allocations, ...(m.from === 1 ? { network: config.migrateNetwork } : {}) }, `migrated the allocations of a schema-${m.from} store to one record each`)
  }
  try {
    const persisted = await store.load()
    const peer = createPeer<AttachmentMeta>({
      id: identity.peerId,
      nickname: config.nickname,
      ...(address === null ? {} : { address }),
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
    const metrics = new Metrics(() => gauges(peer.status()))
    return { config, universe, init, identity, log, swarmKey: swarmKey?.bytes ?? null, store, persisted, peer, address, metrics }
  } catch (err) {
    await store.close()
    throw err
  }
}

async function startNodeRouting (n: Node, onStop: (stop: Stop) => void): Promise<Routing | null> {
  const routing = startRouting(n.config.routing, n.universe, n.identity.peerId, n.address, n.metrics, n.log.child({ part: 'routes' }))
  if (routing === null) return null
  onStop(routing.stop)
  // The kernel may hold routes from before a restart: bring them in line with the ring at once.
  routing.update(n.peer.ring())
  // Before the socket serves the first ADD: the bridge exists with its pinned MAC and proxy ARP, so
  // the bridge plugin never makes it in a race with this agent (its MAC would float with its ports).
  await routing.idle()
  return routing
}

/** The Ready loop: the core's batches to the store (and routes), its messages to the mesh. */
function startLoop (n: Node, mesh: Mesh, routing: Routing | null, onStop: (stop: Stop) => void): { driver: Driver<AttachmentMeta>, failed: Promise<Error> } {
  const { log, metrics, store } = n
  let reportFailure: (err: Error) => void = () => undefined
  const failed = new Promise<Error>(resolve => { reportFailure = resolve })
  const driver = new Driver(n.peer, {
    commit: async delta => {
      const started = performance.now()
      await store.commit(delta)
      metrics.commitSeconds((performance.now() - started) / 1000)
      if (delta.ring !== undefined) {
        routing?.update(delta.ring)
        mesh.forget(delta.ring.removed.map(r => r.peer))
      }
    },
    send: out => sendOut(mesh, out),
    event: e => {
      logEvent(log, n.universe, e)
      if (e.kind === 'conflict') metrics.conflict()
      // A message or ring the core refused (bad fields, another range, other seeds): the sender's fault.
      if (e.kind === 'rejected-ring') metrics.badMessage()
      if (e.kind === 'removed-self') reportFailure(new Error(`this peer was removed from the ring by ${e.heir} (weft rmpeer); its data dir must not be reused`))
    },
    fatal: reportFailure
  }, log)
  // Runs after the mesh has stopped and before the store closes: the last batch lands.
  onStop(async () => await driver.idle())
  return { driver, failed }
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

/** What the mesh hands the core: decoded messages and the reachable set, through the loop. */
function meshHandlers (n: Node, driver: Driver<AttachmentMeta>): MeshHandlers {
  const { log, metrics, peer } = n
  // Each newer peer is logged once, not once per message; bounded, as senders are.
  const newerSenders = new Set<PeerId>()
  return {
    receive: (from, data) => {
      let msg: Message
      try {
        msg = decodeMessage(data)
      } catch (err) {
        if (err instanceof NewerCodecError) {
          metrics.newerMessage()
          if (!newerSenders.has(from) && newerSenders.size < MAX_NEWER_SENDERS_LOGGED) {
            newerSenders.add(from)
            log.warn({ event: 'newer-codec', from, version: err.version }, 'a peer speaks a newer codec (a rolling update?): its messages are ignored until this agent is updated')
          }
          return 'ignore'
        }
        metrics.badMessage()
        log.warn({ event: 'malformed-message', from, bytes: data.length, err: (err as Error).message }, 'malformed message ignored')
        return 'reject'
      }
      // The core checks every field of a message against its universe and reports what it refuses
      // as an event; a throw from it is a bug, so the driver stops the agent.
      driver.input(() => { peer.step(from, msg) })
      return 'accept'
    },
    unreadable: (from, reason) => {
      metrics.badMessage()
      log.warn({ event: 'unreadable-message', from, reason }, 'unreadable direct message ignored')
    },
    reachable: peers => {
      log.info({ reachable: peers.length }, 'reachable peers changed')
      driver.input(() => peer.setReachable(peers))
    }
  }
}

/** The core's clock, and its full invariant checks every CHECK_INTERVAL_MS. */
function startTimers (n: Node, driver: Driver<AttachmentMeta>, onStop: (stop: Stop) => void): void {
  const { peer, config } = n
  const checkEvery = Math.max(1, Math.round(CHECK_INTERVAL_MS / config.tickMs))
  let ticks = 0
  const ticker = setInterval(() => driver.input(() => {
    peer.tick()
    // A failed check is a bug in the core: the driver treats the throw as fatal and the agent stops.
    if (++ticks % checkEvery === 0) throwIfBroken(peer.checkInvariants())
  }), config.tickMs)
  onStop(async () => {
    clearInterval(ticker)
    await driver.idle()
  })
}

/** The Node list's reader, when configured: mesh discovery, Kubernetes init, and reclaim. */
function startKubernetes (n: Node, driver: Driver<AttachmentMeta>, mesh: Mesh, seen: readonly string[], onStop: (stop: Stop) => void): NodeSource | null {
  const { config, peer, store, metrics, log } = n
  const kube = config.kube
  if (kube === null) return null
  const reclaimer = kube.reclaim
    ? startReclaimer({
      owners: () => peer.status().peers,
      rmpeer: async target => await takeOver({ driver, peer, requestTimeoutMs: opsTimeoutMs(config) }, target, false),
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
      if (config.init.kind === 'kubernetes') driver.input(() => peer.setNodes(nodes.map(n => ({ name: n.name, created: n.created }))))
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
  parts: { driver: Driver<AttachmentMeta>, mesh: Mesh, nodeSource: NodeSource | null },
  onStop: (stop: Stop) => void
): Promise<void> {
  const { config, peer, metrics } = n
  const { driver, mesh, nodeSource } = parts
  const status = (): StatusResponse => statusBody(peer.status(), {
    init: n.init,
    connections: mesh.connectionCount(),
    badMessages: metrics.badMessages,
    kubernetes: nodeSource?.state() ?? null
  })
  const ops = new Ops({ universe: n.universe, peer, driver, store: n.store, requestTimeoutMs: opsTimeoutMs(config), clock: Date.now, status })
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

function sendOut (mesh: Mesh, out: Outbound): void {
  const data = encodeMessage(out.msg)
  if (out.to === 'all') mesh.publish(data)
  else mesh.send(out.to, data)
}

function logEvent (log: Logger, u: Universe, e: CoreEvent): void {
  switch (e.kind) {
    case 'conflict':
      log.warn({ event: e.kind, token: e.token.toString(), version: e.version, localOwner: e.localOwner, remoteOwner: e.remoteOwner, from: e.from }, 'ring conflict: rejected an entry that would hand away allocated addresses')
      return
    case 'rejected-ring': log.warn({ event: e.kind, from: e.from, reason: e.reason }, 'rejected a ring'); return
    case 'initialised': log.info({ event: e.kind, seeds: e.seeds }, 'ring initialised'); return
    case 'space-received': log.info({ event: e.kind, from: e.from, range: formatRange(u, e.range) }, 'received space'); return
    case 'space-given': log.info({ event: e.kind, to: e.to, range: formatRange(u, e.range) }, 'gave space'); return
    case 'takeover': log.warn({ event: e.kind, peer: e.peer, heir: e.heir }, 'peer taken over'); return
    case 'removed-self': log.error({ event: e.kind, heir: e.heir }, 'this peer was removed from the ring')
  }
}
