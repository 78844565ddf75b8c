/**
 * One agent: identity, store, core peer, mesh, Ready loop, socket API and metrics, started in that
 * order and stopped in reverse. The core does the thinking; this wires its inputs and outputs.
 */
import { createPeer, decodeMessage, encodeMessage, formatRange, NewerCodecError, parseUniverse } from '@weft/ring'
import type { CoreEvent, Message, Outbound, PeerId, Universe } from '@weft/ring'
import { formatInit } from './config.ts'
import type { AgentConfig } from './config.ts'
import { routes } from './api.ts'
import { Driver } from './driver.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { createLogger } from './log.ts'
import type { Logger } from './log.ts'
import { isIP } from 'node:net'
import { listNodes, nodeAddress } from './kube.ts'
import type { KubeNode } from './kube.ts'
import { Mesh } from './mesh.ts'
import { Metrics } from './metrics.ts'
import { metaFromKey, Ops } from './ops.ts'
import { startNodeSource } from './node-source.ts'
import type { NodeSource } from './node-source.ts'
import { startReclaimer } from './reclaimer.ts'
import { startRouting, thisNodeAddress } from './routing.ts'
import { startSocketServer } from './server.ts'
import { gauges, statusBody } from './status.ts'
import { Store } from './store.ts'
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
  const universe = parseUniverse(config.range)
  const init = formatInit(config.init)
  const identity = await loadOrCreateIdentity(config.dataDir)
  const log = createLogger(config.logLevel, { nickname: config.nickname, peer: identity.peerId })
  const swarmKey = config.swarmKeyFile === null ? null : await readSwarmKey(config.swarmKeyFile)
  if (swarmKey === null) log.warn('no WEFT_SWARM_KEY_FILE: any host that can reach the listen port may join the mesh')
  else if (swarmKey.exposed) log.warn({ file: config.swarmKeyFile }, 'the swarm key file is readable by group or others; make it 0600')

  const address = await thisNodeAddress(config.routing, universe, config.peers, log)
  const store = await Store.open(config.dataDir, universe.cidr, config.migrateNetwork)
  if (store.migrated > 0) log.info({ allocations: store.migrated, network: config.migrateNetwork }, 'migrated allocations stored without a network (schema 1) to network keys')
  const cleanup: Array<() => Promise<void>> = [async () => await store.close()]
  try {
    const persisted = await store.load()
    const peer = createPeer({
      id: identity.peerId,
      nickname: config.nickname,
      ...(address === null ? {} : { address }),
      universe,
      init: config.init,
      random: Math.random,
      // Full invariant checks cost O(allocations) per call: run them on a timer instead (below).
      checks: false,
      ...(persisted === undefined ? {} : { persisted }),
      timeouts: {
        // The core answers a waiting request before the socket's own bound does.
        request: Math.max(1, Math.floor(config.requestTimeoutMs / config.tickMs))
      }
    })
    throwIfBroken(peer.checkInvariants())
    let reportFailure: (err: Error) => void = () => undefined
    const failed = new Promise<Error>(resolve => { reportFailure = resolve })
    const metrics = new Metrics(() => gauges(peer.status()))
    const routing = startRouting(config.routing, universe, identity.peerId, address, metrics, log.child({ part: 'routes' }))
    if (routing !== null) cleanup.unshift(routing.stop)
    // The kernel may hold routes from before a restart: bring them in line with the ring at once.
    routing?.update(peer.ring())
    // Before the socket serves the first ADD: the bridge exists with its pinned MAC and proxy ARP, so
    // the bridge plugin never makes it in a race with this agent (its MAC would float with its ports).
    await routing?.idle()
    let mesh: Mesh | null = null
    let ops: Ops | null = null
    const driver = new Driver(peer, {
      commit: async delta => {
        const started = performance.now()
        await store.commit(delta, key => ops?.metaFor(key) ?? metaFromKey(key, Date.now()))
        metrics.commitSeconds((performance.now() - started) / 1000)
        if (delta.ring !== undefined) routing?.update(delta.ring)
      },
      send: out => sendOut(mesh, out),
      event: e => {
        logEvent(log, universe, e)
        if (e.kind === 'conflict') metrics.conflict()
        // A message or ring the core refused (bad fields, another range, other seeds): the sender's fault.
        if (e.kind === 'rejected-ring') metrics.badMessage()
        if (e.kind === 'removed-self') reportFailure(new Error(`this peer was removed from the ring by ${e.heir} (weft rmpeer); its data dir must not be reused`))
      },
      fatal: reportFailure
    }, log)
    // Runs after the mesh has stopped and before the store closes: the last batch lands.
    cleanup.unshift(async () => await driver.idle())

    // Each newer peer is logged once, not once per message; bounded, as senders are.
    const newerSenders = new Set<PeerId>()
    mesh = await Mesh.start({
      privateKey: identity.privateKey,
      listen: config.listen,
      peers: config.peers,
      swarmKey: swarmKey?.bytes ?? null,
      reconnectMs: config.reconnectMs,
      pingMs: config.pingMs,
      log
    }, {
      receive: (from, data) => {
        let msg: Message
        try {
          msg = decodeMessage(data)
        } catch (err) {
          if (err instanceof NewerCodecError) {
            metrics.newerMessage()
            if (!newerSenders.has(from) && newerSenders.size < MAX_NEWER_SENDERS_LOGGED) {
              newerSenders.add(from)
              log.warn({ from, version: err.version }, 'a peer speaks a newer codec (a rolling update?): its messages are ignored until this agent is updated')
            }
            return 'ignore'
          }
          metrics.badMessage()
          log.warn({ from, bytes: data.length, err: (err as Error).message }, 'malformed message ignored')
          return 'reject'
        }
        // The core checks every field of a message against its universe and reports what it refuses
        // as an event; a throw from it is a bug, so the driver stops the agent.
        driver.input(() => { peer.step(from, msg) })
        return 'accept'
      },
      unreadable: (from, reason) => {
        metrics.badMessage()
        log.warn({ from, reason }, 'unreadable direct message ignored')
      },
      reachable: peers => {
        log.info({ reachable: peers.length }, 'reachable peers changed')
        driver.input(() => peer.setReachable(peers))
      }
    })
    const meshStarted = mesh
    cleanup.unshift(async () => await meshStarted.stop())

    let nodeSource: NodeSource | null = null
    const status = () => statusBody(peer.status(), {
      init,
      connections: meshStarted.connectionCount(),
      badMessages: metrics.badMessages,
      kubernetes: nodeSource?.state() ?? null
    })
    ops = new Ops({ universe, peer, driver, store, requestTimeoutMs: config.requestTimeoutMs + 1_000, clock: Date.now, status })
    const checkEvery = Math.max(1, Math.round(CHECK_INTERVAL_MS / config.tickMs))
    let ticks = 0
    const ticker = setInterval(() => driver.input(() => {
      peer.tick()
      // A failed check is a bug in the core: the driver treats the throw as fatal and the agent stops.
      if (++ticks % checkEvery === 0) throwIfBroken(peer.checkInvariants())
    }), config.tickMs)
    cleanup.unshift(async () => {
      clearInterval(ticker)
      await driver.idle()
    })
    const server = await startSocketServer(config.socketPath, routes(ops), log)
    cleanup.unshift(async () => await server.close())
    if (config.kube !== null) {
      const kube = config.kube
      const opsStarted = ops
      const reclaimer = kube.reclaim
        ? startReclaimer({
          owners: () => status().peers,
          rmpeer: async peer => (await opsStarted.rmpeer({ peer, force: false })).takenOver,
          seen: await store.loadNodesSeen(),
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
          if (kube.discovery) meshStarted.setDiscovered(peerAddresses(nodes, config.nickname, kube.meshPort))
          if (config.init.kind === 'kubernetes') driver.input(() => peer.setNodes(nodes.map(n => ({ name: n.name, created: n.created }))))
          reclaimer?.nodes(new Set(nodes.map(n => n.name)))
        }
      })
      nodeSource = source
      cleanup.unshift(async () => {
        source.stop()
        reclaimer?.stop()
      })
    }
    if (config.metricsAddr !== null) {
      const stopMetrics = await metrics.serve(config.metricsAddr)
      cleanup.unshift(stopMetrics)
    }
    log.info({
      range: universe.cidr,
      init,
      listen: meshStarted.listenAddresses(),
      socket: config.socketPath,
      restored: persisted === undefined ? null : { allocations: persisted.allocations.length, entries: persisted.ring.entries.length }
    }, 'agent started')

    let stopping: Promise<void> | null = null
    return {
      failed,
      stop: async () => {
        stopping ??= runCleanup(cleanup, log)
        await stopping
      }
    }
  } catch (err) {
    await runCleanup(cleanup, log)
    throw err
  }
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

async function runCleanup (steps: Array<() => Promise<void>>, log: Logger): Promise<void> {
  for (const step of steps) {
    try {
      await step()
    } catch (err) {
      log.error({ err }, 'error while stopping')
    }
  }
  log.info('agent stopped')
}

function sendOut (mesh: Mesh | null, out: Outbound): void {
  if (mesh === null) return
  const data = encodeMessage(out.msg)
  if (out.to === 'all') mesh.publish(data)
  else mesh.send(out.to, data)
}

function logEvent (log: Logger, u: Universe, e: CoreEvent): void {
  switch (e.kind) {
    case 'conflict':
      log.warn({ token: e.token.toString(), version: e.version, localOwner: e.localOwner, remoteOwner: e.remoteOwner, from: e.from }, 'ring conflict: rejected an entry that would hand away allocated addresses')
      return
    case 'rejected-ring': log.warn({ from: e.from, reason: e.reason }, 'rejected a ring'); return
    case 'initialised': log.info({ seeds: e.seeds }, 'ring initialised'); return
    case 'space-received': log.info({ from: e.from, range: formatRange(u, e.range) }, 'received space'); return
    case 'space-given': log.info({ to: e.to, range: formatRange(u, e.range) }, 'gave space'); return
    case 'takeover': log.warn({ peer: e.peer, heir: e.heir }, 'peer taken over'); return
    case 'removed-self': log.error({ heir: e.heir }, 'this peer was removed from the ring')
  }
}
