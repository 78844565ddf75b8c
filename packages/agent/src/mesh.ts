/**
 * The libp2p mesh: TCP + Noise + Yamux (+ pnet when a swarm key is given), gossipsub for broadcasts,
 * a length-prefixed request protocol for direct messages, and a reconnect loop to WEFT_PEERS and to
 * the discovered peers (`setDiscovered`, from the Kubernetes Node list) that, unlike libp2p's own,
 * never gives up. It moves bytes only; what they mean is the caller's business.
 */
import { lookup } from 'node:dns/promises'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Connection, PeerId as Libp2pPeerId, PrivateKey, Stream } from '@libp2p/interface'
import { asPeerId } from '@weft/ring'
import type { PeerId } from '@weft/ring'
import { dnsName, exemptAddresses, listenError } from './mesh-addresses.ts'
import type { DnsName } from './mesh-addresses.ts'
import type { Logger } from './log.ts'

export const TOPIC = '/weft/ring/1'
export const PROTOCOL = '/weft/msg/1.0.0'
/** Far above a whole ring of 5000 peers; gossipsub's sender cap is 4 MiB. */
export const MAX_MESSAGE_BYTES = 2 * 1024 * 1024
const DIAL_TIMEOUT_MS = 5_000
const READ_TIMEOUT_MS = 10_000
/** Direct messages waiting per peer; the core retries on its own timeouts, so the oldest may go. */
const MAX_QUEUED_PER_PEER = 1_000
const MAX_BACKOFF_FACTOR = 16

export interface MeshOptions {
  readonly privateKey: PrivateKey
  readonly listen: readonly string[]
  readonly peers: readonly string[]
  readonly swarmKey: Uint8Array | null
  readonly reconnectMs: number
  /** Liveness ping interval: TCP alone notices a silent partition only after minutes. */
  readonly pingMs: number
  readonly log: Logger
}

/**
 * What became of one inbound message: `reject` for malformed bytes (gossipsub stops them spreading
 * and lowers the sender's score), `ignore` for bytes that are not ours to judge, such as a newer
 * agent's codec during a rolling update (dropped, the sender not penalised).
 */
export type Verdict = 'accept' | 'reject' | 'ignore'

const VERDICTS: Record<Verdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  reject: TopicValidatorResult.Reject,
  ignore: TopicValidatorResult.Ignore
}

export interface MeshHandlers {
  /** One inbound message, gossiped or direct. */
  readonly receive: (from: PeerId, data: Uint8Array) => Verdict
  /** A message that could not even be read (oversized, cut off). */
  readonly unreadable: (from: PeerId, reason: string) => void
  /** The set of connected peers subscribed to the ring topic changed. */
  readonly reachable: (peers: readonly PeerId[]) => void
}

interface DialTarget {
  readonly addr: Multiaddr
  peer: Libp2pPeerId | null
  /** The address is this agent's own (one peer list shared by every node). */
  self: boolean
  /** From setDiscovered: dropped when the next discovered set leaves it out. */
  readonly discovered: boolean
  failures: number
  nextAttempt: number
}

export class Mesh {
  readonly #node: Libp2p<{ pubsub: GossipSub }>
  readonly #listen: readonly string[]
  readonly #log: Logger
  readonly #reconnectMs: number
  #targets: DialTarget[]
  readonly #names: DnsName[]
  readonly #queues = new Map<PeerId, Uint8Array[]>()
  #reachable: readonly PeerId[] = []
  #timer: NodeJS.Timeout | null = null
  /** A reconnect pass is under way; `#again`: run another right after it. */
  #passing = false
  #again = false
  #stopped = false

  private constructor (node: Libp2p<{ pubsub: GossipSub }>, options: MeshOptions) {
    this.#node = node
    this.#listen = options.listen
    this.#log = options.log
    this.#reconnectMs = options.reconnectMs
    const addrs = options.peers.map(p => multiaddr(p))
    this.#names = addrs.map(dnsName).filter((n): n is DnsName => n !== null)
    this.#targets = addrs.filter(a => dnsName(a) === null).map(a => newTarget(a, false))
  }

  /** Opens and starts a mesh in one step. */
  static async start (options: MeshOptions, handlers: MeshHandlers): Promise<Mesh> {
    const mesh = await Mesh.open(options)
    await mesh.start(handlers)
    return mesh
  }

  /**
   * A mesh that can be sent to (nothing leaves before start) but neither listens nor receives yet:
   * what it receives needs the core's loop, and that loop sends through the mesh.
   */
  static async open (options: MeshOptions): Promise<Mesh> {
    const node = await createLibp2p({
      start: false,
      privateKey: options.privateKey,
      addresses: { listen: [...options.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      ...(options.swarmKey === null ? {} : { connectionProtector: preSharedKey({ psk: options.swarmKey }) }),
      connectionMonitor: { pingInterval: options.pingMs },
      connectionManager: {
        maxConnections: 1200,
        // Exempt from the per-IP inbound rate limit: many agents share one IP in tests and behind SNAT.
        allow: exemptAddresses(options.peers)
      },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          allowedTopics: [TOPIC],
          allowPublishToZeroTopicPeers: true,
          ignoreDuplicatePublishError: true,
          // Through gossipsub's mesh, not to every peer: a change is a small delta, and the digests
          // the core exchanges afterwards catch up any peer the mesh has not reached yet.
          floodPublish: false,
          emitSelf: false,
          maxInboundDataLength: MAX_MESSAGE_BYTES,
          // Agents on one host or behind one NAT share an IP: do not graylist them (the default penalises >10 per IP).
          scoreParams: { IPColocationFactorWeight: 0 }
        })
      }
    })
    return new Mesh(node, options)
  }

  /** Listens, joins the topic and dials the peers; `handlers` get everything received from now on. */
  async start (handlers: MeshHandlers): Promise<void> {
    try {
      await this.#node.start()
    } catch (err) {
      throw listenError(err as Error, this.#listen)
    }
    await this.#wire(handlers)
  }

  get peerId (): PeerId {
    return asPeerId(this.#node.peerId.toString())
  }

  listenAddresses (): string[] {
    return this.#node.getMultiaddrs().map(m => m.toString())
  }

  connectionCount (): number {
    return this.#node.getConnections().length
  }

  /** Broadcast to every subscribed peer. Never throws: a failed publish is logged (the core re-sends). */
  publish (data: Uint8Array): void {
    if (this.#stopped) return
    this.#node.services.pubsub.publish(TOPIC, data).catch((err: unknown) => {
      this.#log.warn({ err: (err as Error).message, bytes: data.length }, 'gossip publish failed')
    })
  }

  /** Direct message; per-peer order is kept. Never throws: delivery failures are logged. */
  send (to: PeerId, data: Uint8Array): void {
    if (this.#stopped) return
    const queue = this.#queues.get(to)
    if (queue !== undefined) {
      if (queue.length >= MAX_QUEUED_PER_PEER) {
        queue.shift()
        this.#log.warn({ peer: to }, 'direct message queue full; dropped the oldest')
      }
      queue.push(data)
      return
    }
    const fresh = [data]
    this.#queues.set(to, fresh)
    void this.#drain(to, fresh)
  }

  /**
   * The discovered peers' addresses now (multiaddrs): new ones are dialled at once, ones left out
   * are no longer dialled (a connection open to them stays until it fails).
   */
  setDiscovered (addrs: readonly string[]): void {
    if (this.#stopped) return
    // By canonical string, in sets: the Node list is polled, and a cluster may have thousands of nodes.
    const wanted = new Map(addrs.map(a => { const m = multiaddr(a); return [m.toString(), m] as const }))
    const have = new Set(this.#targets.map(t => t.addr.toString()))
    const isKept = (t: DialTarget): boolean => !t.discovered || wanted.has(t.addr.toString())
    const kept = this.#targets.filter(isKept)
    const added = [...wanted].filter(([s]) => !have.has(s)).map(([, m]) => newTarget(m, true))
    for (const t of this.#targets.filter(t => !isKept(t))) this.#log.info({ event: 'peer-address-dropped', addr: t.addr.toString() }, 'peer address no longer listed; not dialling it')
    this.#targets = [...kept, ...added]
    if (added.length > 0) this.#kick()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    await this.#node.stop()
  }

  async #wire (handlers: MeshHandlers): Promise<void> {
    const node = this.#node
    const pubsub = node.services.pubsub
    // The topic validator is where gossipsub hands over each new message exactly once, after
    // deduplication; rejecting malformed bytes there also stops them spreading and lowers the sender's score.
    pubsub.topicValidators.set(TOPIC, (_propagator, msg) => {
      if (msg.type !== 'signed') return TopicValidatorResult.Reject
      return VERDICTS[handlers.receive(asPeerId(msg.from.toString()), msg.data)]
    })
    pubsub.addEventListener('subscription-change', () => this.#updateReachable(handlers))
    node.addEventListener('peer:connect', () => this.#updateReachable(handlers))
    node.addEventListener('peer:disconnect', () => this.#updateReachable(handlers))
    await node.handle(PROTOCOL, async (stream, connection) => await this.#serveStream(stream, connection, handlers), { maxInboundStreams: 256 })
    pubsub.subscribe(TOPIC)
    this.#scheduleReconnect(0)
  }

  async #serveStream (stream: Stream, connection: Connection, handlers: MeshHandlers): Promise<void> {
    // Wrapped before any await, or buffered data can be lost (libp2p 3 pitfall).
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    const from = asPeerId(connection.remotePeer.toString())
    let data
    try {
      data = await lp.read({ signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
    } catch (err) {
      handlers.unreadable(from, (err as Error).message)
      stream.abort(err as Error)
      return
    }
    handlers.receive(from, data.subarray())
    await stream.close().catch(() => undefined)
  }

  async #drain (to: PeerId, queue: Uint8Array[]): Promise<void> {
    try {
      for (let data = queue.shift(); data !== undefined && !this.#stopped; data = queue.shift()) {
        const err = await this.#deliver(to, data)
        if (err !== null) {
          // The peer is unreachable now: drop what waits for it rather than time out on each message.
          // The core re-sends on its own timeouts and sends its ring again when the peer is back.
          this.#log.debug({ peer: to, dropped: queue.length + 1, err: err.message }, 'direct messages not delivered')
          queue.length = 0
        }
      }
    } finally {
      this.#queues.delete(to)
    }
  }

  async #deliver (to: PeerId, data: Uint8Array): Promise<Error | null> {
    try {
      const stream = await this.#node.dialProtocol(peerIdFromString(to), PROTOCOL, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      await lp.write(data, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      await stream.close({ signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
      return null
    } catch (err) {
      return err as Error
    }
  }

  #updateReachable (handlers: MeshHandlers): void {
    if (this.#stopped) return
    const subscribed = this.#node.services.pubsub.getSubscribers(TOPIC)
    const now = subscribed
      .filter(p => this.#node.getConnections(p).length > 0)
      .map(p => asPeerId(p.toString()))
      .sort()
    if (now.length === this.#reachable.length && now.every((p, i) => p === this.#reachable[i])) return
    this.#reachable = now
    handlers.reachable(now)
  }

  #scheduleReconnect (delay: number): void {
    if (this.#stopped || this.#targets.length + this.#names.length === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#passing = true
      this.#reconnect().finally(() => {
        this.#passing = false
        const again = this.#again
        this.#again = false
        this.#scheduleReconnect(again ? 0 : this.#reconnectMs)
      })
    }, delay)
  }

  /** A pass now (or right after the one under way), not at the next interval. */
  #kick (): void {
    if (this.#passing) { this.#again = true; return }
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#scheduleReconnect(0)
  }

  /** One pass over WEFT_PEERS: dial every address whose peer is not connected and whose backoff is over. */
  async #reconnect (): Promise<void> {
    await this.#resolveNames()
    const now = Date.now()
    await Promise.all(this.#targets.map(async t => {
      if (t.self || this.#stopped) return
      if (t.peer !== null && this.#node.getConnections(t.peer).length > 0) {
        t.failures = 0
        return
      }
      if (t.nextAttempt > now) return
      try {
        const conn = await this.#node.dial(t.addr, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
        if (conn.remotePeer.equals(this.#node.peerId)) {
          t.self = true
          await conn.close()
          return
        }
        if (t.peer === null || !t.peer.equals(conn.remotePeer)) this.#log.info({ event: 'peer-connected', addr: t.addr.toString(), peer: conn.remotePeer.toString() }, 'connected to peer')
        t.peer = conn.remotePeer
        t.failures = 0
      } catch (err) {
        if (isSelfDial(err)) {
          t.self = true
          this.#log.debug({ addr: t.addr.toString() }, 'skipping own address in WEFT_PEERS')
          return
        }
        t.failures++
        t.nextAttempt = Date.now() + this.#reconnectMs * Math.min(2 ** (t.failures - 1), MAX_BACKOFF_FACTOR)
        const level = t.failures === 1 || t.failures % 10 === 0 ? 'info' : 'debug'
        this.#log[level]({ event: 'peer-unreachable', addr: t.addr.toString(), failures: t.failures, err: (err as Error).message }, 'cannot reach peer; will retry')
      }
    }))
  }

  /** Adds a target for every address the DNS names resolve to now; a failed lookup is retried next pass. */
  async #resolveNames (): Promise<void> {
    await Promise.all(this.#names.map(async n => {
      let found
      try {
        found = await lookup(n.name, { all: true, family: n.family })
      } catch (err) {
        this.#log.info({ name: n.name, err: (err as Error).message }, 'cannot resolve peer name; will retry')
        return
      }
      for (const { address, family } of found) {
        const addr = multiaddr(`/${family === 6 ? 'ip6' : 'ip4'}/${address}/tcp/${n.port}`)
        if (!this.#targets.some(t => t.addr.equals(addr))) this.#targets.push(newTarget(addr, false))
      }
    }))
  }
}

function newTarget (addr: Multiaddr, discovered: boolean): DialTarget {
  return { addr, peer: null, self: false, discovered, failures: 0, nextAttempt: 0 }
}


function isSelfDial (err: unknown): boolean {
  return /dial self/i.test((err as Error).message ?? '')
}
