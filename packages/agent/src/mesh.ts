/**
 * The libp2p mesh: TCP + Noise + Yamux (+ pnet when a swarm key is given), gossipsub for broadcasts,
 * a length-prefixed request protocol for direct messages, address books that make every agent learn
 * every other (mesh-book.ts), and a dial loop to WEFT_PEERS, the discovered peers (`setDiscovered`,
 * from the Kubernetes Node list) and the learned ones that, unlike libp2p's own, never gives up
 * (mesh-dials.ts), each connection pinged (mesh-liveness.ts). It moves bytes only; what they mean
 * is the caller's business.
 */
import { lookup } from 'node:dns/promises'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { identify } from '@libp2p/identify'
import { gossipsub, TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Connection, IdentifyResult, PrivateKey, Stream } from '@libp2p/interface'
import { type PeerId, asPeerId } from '@weft/ring'
import { type DnsName, dnsName, exemptAddresses, listenError } from './mesh-addresses.ts'
import { type BookEntry, MAX_BOOK_BYTES, PEERS_PROTOCOL, decodeBook, dialAddress, encodeBook } from './mesh-book.ts'
import { type DialTarget, DialSet, failureOf, isSelfDial } from './mesh-dials.ts'
import { Links, STREAM_OPEN_TIMEOUT_MS } from './mesh-links.ts'
import type { MeshNode } from './mesh-links.ts'
import { Liveness } from './mesh-liveness.ts'
import { readOne, writeOne } from './mesh-streams.ts'
import type { Logger } from './log.ts'

export const TOPIC = '/weft/ring/1'
export const PROTOCOL = '/weft/msg/1.0.0'
/** Far above a whole ring of 5000 peers; gossipsub's sender cap is 4 MiB. */
export const MAX_MESSAGE_BYTES = 2 * 1024 * 1024
/**
 * Opening a stream to a connected peer and writing one message, or dialling it for one: as long as a
 * stream's negotiation may take. At 10 s, 174 direct messages of a 50-agent run were cut by their
 * senders and 262 by their readers, each a Paxos or ring message the core had to send again.
 */
const DIAL_TIMEOUT_MS = STREAM_OPEN_TIMEOUT_MS
/**
 * A whole handshake (TCP, pnet, noise, yamux), each way. Both ends starved on a loaded machine (50
 * agents on 2 cores) take well over libp2p's 6 s per address and 10 s inbound: the handshakes were
 * aborted and started again, each one's work wasted on both ends, and the mesh never whole again.
 * A dial into a partition is retransmitted by TCP meanwhile, and a refused one fails at once.
 */
const HANDSHAKE_TIMEOUT_MS = 30_000
/** The multiaddr code of /p2p/<peer id>. */
const P2P_CODE = 421
const READ_TIMEOUT_MS = STREAM_OPEN_TIMEOUT_MS
/** Direct messages waiting per peer; the core retries on its own timeouts, so the oldest may go. */
const MAX_QUEUED_PER_PEER = 1_000

export interface MeshOptions {
  readonly privateKey: PrivateKey
  readonly listen: readonly string[]
  readonly peers: readonly string[]
  readonly swarmKey: Uint8Array | null
  readonly reconnectMs: number
  /** How often each connection is pinged (mesh-liveness.ts). */
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

export class Mesh {
  readonly #node: MeshNode
  readonly #listen: readonly string[]
  readonly #log: Logger
  readonly #reconnectMs: number
  readonly #dials: DialSet
  readonly #links: Links
  readonly #liveness: Liveness
  readonly #names: DnsName[]
  /** Where each connected peer can be dialled, from its identify report: what our book tells. */
  readonly #book = new Map<string, Multiaddr>()
  readonly #queues = new Map<PeerId, Uint8Array[]>()
  #reachable: readonly PeerId[] = []
  #timer: NodeJS.Timeout | null = null
  /** When `#timer`'s pass starts. */
  #timerAt = 0
  /** A reconnect pass is under way; `#wanted`: the latest the next may start (else the reconnect interval). */
  #passing = false
  #wanted = Infinity
  #stopped = false

  private constructor (node: MeshNode, options: MeshOptions, liveness: Liveness) {
    this.#node = node
    this.#listen = options.listen
    this.#log = options.log
    this.#reconnectMs = options.reconnectMs
    const addrs = options.peers.map(p => multiaddr(p))
    this.#names = addrs.map(dnsName).filter((n): n is DnsName => n !== null)
    this.#dials = new DialSet(node.peerId.toString(), addrs.filter(a => dnsName(a) === null), options.reconnectMs)
    this.#links = new Links(node, TOPIC, options.log)
    this.#liveness = liveness
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
    const liveness = new Liveness(options.pingMs, options.log)
    const node = await createLibp2p({
      start: false,
      privateKey: options.privateKey,
      addresses: { listen: [...options.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [liveness.muxer()],
      ...(options.swarmKey === null ? {} : { connectionProtector: preSharedKey({ psk: options.swarmKey }) }),
      // Its pings are streams; mesh-liveness.ts pings each connection with yamux's own frame instead.
      connectionMonitor: { enabled: false },
      connectionManager: {
        // A cluster starting at once: every agent's handshakes arrive together (libp2p refuses past 10 pending).
        maxConnections: 1200, maxIncomingPendingConnections: 128,
        dialTimeout: HANDSHAKE_TIMEOUT_MS, addressDialTimeout: HANDSHAKE_TIMEOUT_MS, inboundUpgradeTimeout: HANDSHAKE_TIMEOUT_MS,
        inboundStreamProtocolNegotiationTimeout: STREAM_OPEN_TIMEOUT_MS, outboundStreamProtocolNegotiationTimeout: STREAM_OPEN_TIMEOUT_MS,
        // Exempt from the per-IP inbound rate limit: many agents share one IP in tests and behind SNAT.
        allow: exemptAddresses(options.peers)
      },
      services: {
        // An identify's answer gets as long as a stream negotiation, not libp2p's 5 s: the registrar
        // tells gossipsub of a peer (and it opens its stream) after an identify that succeeded, so one
        // cut short on a starved machine left the peer without our stream until a repair identified
        // it again (mesh-links.ts), itself within 5 s.
        identify: identify({ timeout: STREAM_OPEN_TIMEOUT_MS }),
        pubsub: gossipsub({
          allowedTopics: [TOPIC],
          allowPublishToZeroTopicPeers: true,
          ignoreDuplicatePublishError: true,
          // Through gossipsub's mesh, not to every peer: digests catch up any peer it missed.
          floodPublish: false,
          emitSelf: false,
          maxInboundDataLength: MAX_MESSAGE_BYTES,
          // Agents on one host or behind one NAT share an IP: do not graylist them (the default penalises >10 per IP).
          scoreParams: { IPColocationFactorWeight: 0 }
        })
      }
    })
    return new Mesh(node, options, liveness)
  }

  /** Listens, joins the topic and dials the peers; `handlers` get everything received from now on. */
  async start (handlers: MeshHandlers): Promise<void> {
    try {
      await this.#node.start()
    } catch (err) {
      throw listenError(err as Error, this.#listen)
    }
    // Where it listens now (0.0.0.0 expanded to each interface), as WEFT_PEERS would list it.
    this.#dials.placeSelf(this.#node.getMultiaddrs().map(m => m.decapsulateCode(P2P_CODE)), Date.now())
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

  /** The ring removed these peers: their learned addresses are no longer dialled. */
  forget (peers: readonly PeerId[]): void {
    for (const t of this.#dials.forget(peers)) this.#log.info({ event: 'peer-address-dropped', addr: t.addr.toString(), peer: t.peer }, 'peer removed from the ring; not dialling it')
  }

  /**
   * The discovered peers' addresses now (multiaddrs): new ones are dialled at once, ones left out
   * are no longer dialled (a connection open to them stays until it fails).
   */
  setDiscovered (addrs: readonly string[]): void {
    if (this.#stopped) return
    const { dropped, added } = this.#dials.setDiscovered(addrs)
    for (const t of dropped) this.#log.info({ event: 'peer-address-dropped', addr: t.addr.toString() }, 'peer address no longer listed; not dialling it')
    if (added) this.#kick()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#liveness.stop()
    await this.#node.stop()
  }

  async #wire (handlers: MeshHandlers): Promise<void> {
    const node = this.#node
    const pubsub = node.services.pubsub
    // The topic validator is where gossipsub hands over each new message exactly once, after
    // deduplication; rejecting malformed bytes there also stops them spreading and lowers the sender's score.
    pubsub.topicValidators.set(TOPIC, (_propagator, msg) => {
      if (msg.type !== 'signed') return TopicValidatorResult.Reject
      // Heard through a relay while not connected (a heal, a new peer): dial it now, not after a backoff.
      if (node.getConnections(msg.from).length === 0 && this.#dials.heard(msg.from.toString())) this.#kick()
      return VERDICTS[handlers.receive(asPeerId(msg.from.toString()), msg.data)]
    })
    pubsub.addEventListener('subscription-change', () => this.#updateReachable(handlers))
    node.addEventListener('peer:connect', () => this.#updateReachable(handlers))
    node.addEventListener('peer:disconnect', (evt) => {
      this.#book.delete(evt.detail.toString())
      this.#updateReachable(handlers)
    })
    node.addEventListener('peer:identify', (evt) => this.#identified(evt.detail))
    await node.handle(PROTOCOL, async (stream, connection) => await this.#serveStream(stream, connection, handlers), { maxInboundStreams: 256 })
    await node.handle(PEERS_PROTOCOL, async (stream, connection) => await this.#serveBook(stream, connection), { maxInboundStreams: 16 })
    pubsub.subscribe(TOPIC)
    this.#liveness.start(() => node.getConnections())
    this.#scheduleReconnect(0)
  }

  async #serveStream (stream: Stream, connection: Connection, handlers: MeshHandlers): Promise<void> {
    const from = asPeerId(connection.remotePeer.toString())
    let data
    try {
      data = await readOne(stream, MAX_MESSAGE_BYTES, READ_TIMEOUT_MS)
    } catch (err) {
      handlers.unreadable(from, (err as Error).message)
      return
    }
    handlers.receive(from, data)
  }

  /** A connected peer told its listen addresses: remember where it is dialled, and send it our book. */
  #identified (id: IdentifyResult): void {
    if (this.#stopped) return
    const peer = id.peerId.toString()
    const addr = dialAddress(id.listenAddrs, id.connection.remoteAddr)
    if (addr === null) return
    const fresh = !this.#book.has(peer)
    this.#book.set(peer, addr)
    // Dialled again after a partition from this side too, not only from the side that dialled first.
    this.#dials.learn(peer, addr, Date.now())
    if (!fresh) return
    const entries: BookEntry[] = []
    for (const [p, a] of this.#book) if (p !== peer) entries.push({ peer: p, addr: a.toString() })
    if (entries.length === 0) return
    void writeOne(this.#node, peer, PEERS_PROTOCOL, encodeBook(entries), MAX_BOOK_BYTES, DIAL_TIMEOUT_MS).then(err => {
      if (err !== null) this.#log.debug({ peer, err: err.message }, 'address book not delivered')
    })
  }

  /** A peer's book: every peer in it this agent does not know yet is dialled now. */
  async #serveBook (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    let entries: BookEntry[]
    try {
      entries = decodeBook(await readOne(stream, MAX_BOOK_BYTES, READ_TIMEOUT_MS))
    } catch (err) {
      this.#log.warn({ event: 'unreadable-message', from, reason: (err as Error).message }, 'unreadable address book ignored')
      return
    }
    let added = 0
    for (const e of entries) if (this.#dials.learn(e.peer, multiaddr(e.addr), Date.now())) added++
    if (added > 0) {
      this.#log.debug({ from, added }, 'learned peer addresses')
      this.#kick()
    }
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
    return await writeOne(this.#node, to, PROTOCOL, data, MAX_MESSAGE_BYTES, DIAL_TIMEOUT_MS)
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
    if (this.#stopped) return
    this.#timerAt = Date.now() + delay
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#passing = true
      this.#reconnect().finally(() => {
        this.#passing = false
        const wanted = this.#wanted
        this.#wanted = Infinity
        this.#scheduleReconnect(Math.max(0, Math.min(this.#reconnectMs, wanted - Date.now())))
      })
    }, delay)
  }

  /** A pass by `at` at the latest (right after the one under way, if that is now), not at the next interval. */
  #passBy (at: number): void {
    if (this.#passing) { this.#wanted = Math.min(this.#wanted, at); return }
    if (this.#timer !== null) {
      if (this.#timerAt <= at) return
      clearTimeout(this.#timer)
    }
    this.#scheduleReconnect(Math.max(0, at - Date.now()))
  }

  #kick (): void { this.#passBy(Date.now()) }

  /**
   * One pass: starts a dial to every target whose peer is not connected and whose backoff is over
   * (up to the limit on dials in flight), without waiting for them (a dial into a partition takes
   * its whole timeout; the others go on).
   */
  async #reconnect (): Promise<void> {
    await this.#resolveNames()
    this.#links.repair(Date.now())
    const connected = new Set(this.#node.getConnections().map(c => c.remotePeer.toString()))
    const { start, more } = this.#dials.due(Date.now(), peer => connected.has(peer))
    for (const t of start) {
      if (this.#stopped) return
      t.dialling = true
      // Targets left waiting for a free slot get the next one at once.
      void this.#dial(t).finally(() => { t.dialling = false; if (more) this.#kick() })
    }
  }

  async #dial (t: DialTarget): Promise<void> {
    try {
      const conn = await this.#node.dial(t.addr, { signal: AbortSignal.timeout(HANDSHAKE_TIMEOUT_MS) })
      if (conn.remotePeer.equals(this.#node.peerId)) {
        t.self = true
        await conn.close()
        return
      }
      const peer = conn.remotePeer.toString()
      if (t.peer !== peer) this.#log.info({ event: 'peer-connected', addr: t.addr.toString(), peer }, 'connected to peer')
      t.peer = peer
      this.#dials.ended(t, 'connected', Date.now())
    } catch (err) {
      if (isSelfDial(err)) {
        t.self = true
        this.#log.debug({ addr: t.addr.toString() }, 'skipping own address in WEFT_PEERS')
        return
      }
      this.#dials.ended(t, failureOf(err), Date.now())
      // A refused dial's quick retry is due before the next interval's pass.
      this.#passBy(t.nextAttempt)
      const level = t.failures === 1 || t.failures % 10 === 0 ? 'info' : 'debug'
      this.#log[level]({ event: 'peer-unreachable', addr: t.addr.toString(), failures: t.failures, parallel: this.#dials.parallel, err: (err as Error).message }, 'cannot reach peer; will retry')
    }
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
        this.#dials.addConfigured(addr)
      }
    }))
  }
}
