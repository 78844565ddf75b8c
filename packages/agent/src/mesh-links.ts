/**
 * One working connection per peer. Two agents that dial each other at once (every agent given the
 * same WEFT_PEERS) get two connections, each pinged and identified on both ends, and gossipsub,
 * which keeps one stream per peer, can lose a peer when the connection its stream ran on closes
 * while the other stays: that peer then stays connected but shows unreachable. So a duplicate is
 * closed by a rule both ends apply alike (keep what the lower peer id dialled), the connection left
 * is identified again so that gossipsub opens its stream on it, and a peer that is
 * connected but not subscribed in gossipsub's view has its connections closed, to be dialled afresh
 * by the dial loop: at the next pass but one if it was subscribed before (gossipsub lost it; agents
 * never unsubscribe; its connection is identified again meanwhile, which may bring it back), after
 * `RELINK_MS` if it never was (its subscription may still be on the way).
 */
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import type { Logger } from './log.ts'

/** How long a newly connected peer may be missing from gossipsub (subscriptions travel after identify, slowly on a busy machine). */
export const RELINK_MS = 15_000

/** The libp2p node of the mesh, with the services it reads. */
export type MeshNode = Libp2p<{ pubsub: GossipSub, identify: Identify }>

/** The connection fields the duplicate rule reads. */
export interface LinkFacts {
  readonly id: string
  readonly direction: 'inbound' | 'outbound'
  /** When it opened, in this process's clock: only to order connections of one direction. */
  readonly opened: number
}

/**
 * Of one peer's open connections, those to close: every one but the oldest that the lower peer id
 * dialled. Both ends see the same connections with mirrored directions, so they close the same
 * ones. If the lower id dialled none of them, all stay (it will not dial a connected peer).
 */
export function surplus (selfIsLower: boolean, conns: readonly LinkFacts[]): string[] {
  const preferred = selfIsLower ? 'outbound' : 'inbound'
  const keep = conns.filter(c => c.direction === preferred).sort((a, b) => a.opened - b.opened)[0]
  return keep === undefined ? [] : conns.filter(c => c !== keep).map(c => c.id)
}

export class Links {
  readonly #node: MeshNode
  readonly #log: Logger
  readonly #topic: string
  /** Connected peers not subscribed in gossipsub's view, and since when. */
  readonly #missing = new Map<string, number>()
  /** Connected peers seen subscribed since they connected. */
  readonly #seen = new Set<string>()

  constructor (node: MeshNode, topic: string, log: Logger) {
    this.#node = node
    this.#topic = topic
    this.#log = log
    node.addEventListener('connection:open', (evt) => this.#opened(evt.detail))
    // A peer that comes back on a new connection gets the long wait again.
    node.addEventListener('peer:disconnect', (evt) => this.#seen.delete(evt.detail.toString()))
  }

  /** A connection opened: its close will be logged with its cause; if its peer now has two, the surplus one goes (before identify uses it, mostly). */
  #opened (conn: Connection): void {
    const peer = conn.remotePeer
    conn.addEventListener('close', (evt) => {
      this.#log.info({ event: 'connection-closed', peer: peer.toString(), direction: conn.direction, local: evt.local, err: evt.error?.message ?? null, ageMs: Date.now() - conn.timeline.open }, 'connection closed')
      // After the close's own events (gossipsub drops the stream that ran on it).
      setImmediate(() => this.#reoffer(peer))
    }, { once: true })
    const conns = this.#node.getConnections(peer).filter(c => c.status === 'open')
    if (conns.length < 2) return
    const close = new Set(surplus(this.#node.peerId.toString() < peer.toString(),
      conns.map(c => ({ id: c.id, direction: c.direction, opened: c.timeline.open }))))
    for (const c of conns) {
      if (!close.has(c.id)) continue
      this.#log.info({ event: 'peer-duplicate', peer: peer.toString(), direction: c.direction }, 'closing a second connection to a peer')
      c.close().catch(() => c.abort(new Error('duplicate connection')))
    }
  }

  /**
   * A connection closed while another to its peer stays: if gossipsub's stream to the peer ran on the
   * closed one, gossipsub has none now and makes one only when told of a connection, which the
   * registrar does after identify. So the connection left is identified again: gossipsub opens its
   * stream there (if it has one still, nothing), and the peer stays in the ring's gossip instead of
   * being hung up and redialled. The same for a peer gossipsub dropped while connected.
   */
  #reoffer (peer: PeerId): void {
    const left = this.#node.getConnections(peer).find(c => c.status === 'open')
    if (left === undefined) return
    this.#log.debug({ peer: peer.toString() }, 'a connection closed and another stays; identifying the one left')
    this.#node.services.identify.identify(left).catch((err: unknown) => this.#log.debug({ peer: peer.toString(), err: (err as Error).message }, 'identify failed'))
  }

  /** One pass of the dial loop: connected peers gossipsub lost, or never had for RELINK_MS, are disconnected. */
  repair (now: number): void {
    const known = new Set(this.#node.services.pubsub.getSubscribers(this.#topic).map(p => p.toString()))
    const connected = new Map(this.#node.getConnections().map(c => [c.remotePeer.toString(), c.remotePeer]))
    for (const peer of this.#missing.keys()) if (!connected.has(peer)) this.#missing.delete(peer)
    for (const [peer, id] of connected) {
      if (known.has(peer)) {
        this.#missing.delete(peer)
        this.#seen.add(peer)
        continue
      }
      const since = this.#missing.get(peer)
      if (since === undefined) {
        this.#missing.set(peer, now)
        // Lost (gossipsub drops a peer whose inbound stream failed, as when a duplicate closed under
        // it): told of the connection again, it may open its streams there before the next pass.
        if (this.#seen.has(peer)) this.#reoffer(id)
        continue
      }
      if (!this.#seen.has(peer) && now - since < RELINK_MS) continue
      this.#missing.delete(peer)
      this.#seen.delete(peer)
      this.#log.info({ event: 'peer-relinked', peer }, 'connected but not in gossip: reconnecting')
      this.#node.hangUp(id).catch((err: unknown) => this.#log.debug({ peer, err: (err as Error).message }, 'hang-up failed'))
    }
  }
}
