/**
 * Keeping every connected peer in gossipsub. gossipsub keeps one stream each way per peer, sends its
 * subscriptions once, when it opens its stream to a peer, and gives up on a stream whose protocol
 * negotiation timed out (its opens run one at a time, each bounded at 10 s: on a starved machine some
 * time out). It also forgets a peer whose inbound stream failed while another connection stays, and
 * the peer's end, its stream still open, never sends its subscriptions again. A peer is then
 * connected but not subscribed, so it shows unreachable. Hanging it up to dial it afresh made it
 * worse: at 50 agents on 2 cores, subscriptions that only came late were cut 6,303 times in one run,
 * each hang-up a new handshake and a new queue of stream opens (see the README's mesh section).
 *
 * So each pass repairs gossipsub's state in place, by a rule each end applies to its own side
 * (`repairStep`):
 * - A connected peer without our gossipsub stream has its connection identified again, on which
 *   gossipsub opens the stream and sends our subscriptions: at the next pass if it had one (lost),
 *   after `RELINK_MS` if it never had (gossipsub's own open may still be queued), then at waits
 *   that double.
 * - A peer whose stream to us is open but whose subscriptions we do not hold (lost, or missing for
 *   `FIRST_OPEN_WAIT_MS`: on a starved machine they come late, and a reset at 15 s broke streams
 *   that were working, 126 in the first minute of one 50-agent run) has that stream reset: its end
 *   sees its stream gone and opens a new one, the rule above, which sends its subscriptions again.
 * - Only a peer still missing after `MAX_RESETS` resets, `RELINK_MS` apart, is hung up and dialled afresh, and one
 *   missing with no stream of its own to us for `STREAMLESS_MS` (its end's repair did not take).
 *
 * Two agents that dial each other at once get two connections. One is closed as the second opens
 * (`surplus`) if no stream runs on it yet; else only once it is spare (`spare`): gossipsub's streams
 * with the peer run on the others and nothing on it, so closing it cuts no stream either end uses.
 * (Closing the one gossipsub had chosen made it drop the peer.)
 */
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import type { Logger } from './log.ts'

/** How long a connected peer may be missing from gossipsub before it is repaired (subscriptions travel after identify, slowly on a busy machine). */
export const RELINK_MS = 15_000
/**
 * A stream's protocol negotiation, each way (libp2p's default is 10 s). gossipsub opens its streams
 * one at a time and never retries one that timed out; between two starved agents a negotiation
 * takes longer than 10 s, and each that timed out left a peer without our stream until repaired.
 */
export const STREAM_OPEN_TIMEOUT_MS = 30_000
/**
 * How long a connected peer that never had our gossipsub stream is left before its connection is
 * identified again: gossipsub's own open, queued behind the others, may still come (each bounded
 * at STREAM_OPEN_TIMEOUT_MS). An identify costs both ends a stream and a signed record, and one sent
 * while the open was still queued only queued another: 4,680 identifies in one 50-agent run at 15 s.
 */
export const FIRST_OPEN_WAIT_MS = STREAM_OPEN_TIMEOUT_MS + RELINK_MS
/** The wait between identifies of a peer still without our stream doubles from `FIRST_OPEN_WAIT_MS` this many times (to 3 minutes). */
export const MAX_IDENTIFY_DOUBLINGS = 2
/** Resets of a peer's stream, `RELINK_MS` apart, before the peer is hung up instead. */
export const MAX_RESETS = 3
/**
 * How long a connected peer may be missing from the subscribers with no stream of its own to us
 * before it is hung up: its end's identify repair (at FIRST_OPEN_WAIT_MS) has then had a try and
 * the wait after it; in one 25-agent run two agents each kept such a peer for good.
 */
export const STREAMLESS_MS = 2 * FIRST_OPEN_WAIT_MS
/** gossipsub's protocols (meshsub 1.0 to 1.2) all start so. */
const GOSSIP_PROTOCOL = '/meshsub/'

/** The libp2p node of the mesh, with the services it reads. */
export type MeshNode = Libp2p<{ pubsub: GossipSub, identify: Identify }>

/** What the duplicate rule reads of one open connection to a peer. */
export interface LinkFacts {
  readonly id: string
  /** Open gossipsub streams on it, this end's to the peer and the peer's to this end. */
  readonly gossipOut: number
  readonly gossipIn: number
  /** Streams of any protocol on it. */
  readonly streams: number
}

/**
 * Of one peer's open connections, those to close, once gossipsub's stream each way is open: every
 * one with no stream on it; and, at the higher peer id's end, one that carries only its own gossipsub
 * stream while the peer's runs on another (each end's gossipsub took the connection it was told of
 * first). The higher end closes that one itself, for only it knows when its stream's opening is over
 * (the other end sees the stream before that, and closing it then stalls gossipsub's opens); seeing the
 * connection close, it opens its stream again on the one left (`#reoffer`). Until then, none: a stream
 * may still come on any of them.
 */
export function spare (selfIsLower: boolean, conns: readonly LinkFacts[]): string[] {
  if (conns.length < 2 || !conns.some(c => c.gossipOut > 0) || !conns.some(c => c.gossipIn > 0)) return []
  const idle = conns.filter(c => c.streams === 0)
  const split = selfIsLower ? [] : conns.filter(c => c.gossipOut > 0 && c.gossipIn === 0 && c.streams === c.gossipOut && conns.some(o => o.gossipIn > 0 && o.gossipOut === 0))
  return [...idle, ...split].map(c => c.id)
}

/** What the rule at a connection's opening reads of each open connection to its peer. */
export interface OpenFacts {
  readonly id: string
  readonly direction: 'inbound' | 'outbound'
  /** When it opened, in this process's clock: only to order connections of one direction. */
  readonly opened: number
  /** Streams of any protocol on it. */
  readonly streams: number
}

/**
 * When a second connection to a peer opens, those to close at once: every one but the oldest that
 * the lower peer id dialled (both ends see the same connections with mirrored directions, so they
 * pick the same ones), and of those only ones no stream runs on yet. Closing one gossipsub already
 * uses made it drop the peer; those are left to `spare`. If the lower id dialled none, all stay.
 */
export function surplus (selfIsLower: boolean, conns: readonly OpenFacts[]): string[] {
  const preferred = selfIsLower ? 'outbound' : 'inbound'
  const keep = conns.filter(c => c.direction === preferred).sort((a, b) => a.opened - b.opened)[0]
  return keep === undefined ? [] : conns.filter(c => c !== keep && c.streams === 0).map(c => c.id)
}

/** What the repair reads of one connected peer, in gossipsub's view. */
export interface GossipFacts {
  /** Our gossipsub's stream to the peer is open on one of its connections. */
  readonly outbound: boolean
  /** An open stream of the peer's gossipsub to this end is on one of its connections. */
  readonly inbound: boolean
  /** The peer is among gossipsub's subscribers of the topic. */
  readonly subscribed: boolean
}

/** What the repair remembers of one connected peer between passes. */
export interface GossipWatch {
  /** Since when gossipsub has had no stream to it (null: it has one). */
  outSince: number | null
  /** gossipsub had a stream to it since the last repair: one lost is opened again at the next pass. */
  hadOut: boolean
  /** Since when it has been missing from the subscribers (null: subscribed). */
  subSince: number | null
  /** It was subscribed since the last repair: one lost is repaired at the next pass. */
  seen: boolean
  /** Its connection was identified again this many times, and our stream is still missing. */
  identifies: number
  /** Its stream to us was reset this many times, and it is still missing. */
  resets: number
  /** Since when it has been missing from the subscribers with no stream of its own to us (null: not so). */
  streamless: number | null
}

export const newWatch = (): GossipWatch => ({ outSince: null, hadOut: false, subSince: null, seen: false, identifies: 0, resets: 0, streamless: null })

export type Repair = 'identify' | 'reset' | 'hang-up'

/**
 * One pass for one connected peer at `now`: what to do about it (see the file's comment). A state
 * seen for the first time is only noted; the next pass acts if it was lost, one `RELINK_MS` later if
 * it never was. Each action waits `RELINK_MS` before it is repeated. Updates `w`.
 */
export function repairStep (w: GossipWatch, f: GossipFacts, now: number): Repair[] {
  const acts: Repair[] = []
  const due = (since: number, lost: boolean, waitMs = RELINK_MS): boolean => now > since && (lost || now - since >= waitMs)
  if (f.outbound) {
    w.outSince = null
    w.hadOut = true
    w.identifies = 0
  } else if (w.outSince === null) {
    w.outSince = now
  } else if (due(w.outSince, w.hadOut, FIRST_OPEN_WAIT_MS * 2 ** Math.min(w.identifies, MAX_IDENTIFY_DOUBLINGS))) {
    // Doubling: on a starved machine gossipsub's opens queue up, and each identify adds work to both ends.
    acts.push('identify')
    w.outSince = now
    w.hadOut = false
    w.identifies++
  }
  w.streamless = f.subscribed || f.inbound ? null : w.streamless ?? now
  if (w.streamless !== null && now - w.streamless >= STREAMLESS_MS) {
    acts.push('hang-up')
    w.streamless = null
    w.subSince = now
    w.seen = false
    return acts
  }
  if (f.subscribed) {
    w.subSince = null
    w.seen = true
    w.resets = 0
  } else if (w.subSince === null) {
    w.subSince = now
  } else if (due(w.subSince, w.seen, w.resets === 0 ? FIRST_OPEN_WAIT_MS : RELINK_MS)) {
    w.subSince = now
    w.seen = false
    if (w.resets >= MAX_RESETS) {
      acts.push('hang-up')
      w.resets = 0
    } else if (f.inbound) {
      // Without a stream from it there is nothing to reset: its end opens one by the first rule.
      acts.push('reset')
      w.resets++
    }
  }
  return acts
}

type Stream = Connection['streams'][number]
/**
 * A gossipsub stream still carrying gossip: ours to the peer while we can write to it, the peer's to
 * us while it can (gossipsub, dropping a peer, closes only its own end of each, and the other end's
 * stays open).
 */
const gossipOut = (s: Stream): boolean => s.protocol.startsWith(GOSSIP_PROTOCOL) && s.status === 'open' && s.direction === 'outbound' && s.writeStatus === 'writable'
const gossipIn = (s: Stream): boolean => s.protocol.startsWith(GOSSIP_PROTOCOL) && s.status === 'open' && s.direction === 'inbound' && s.remoteWriteStatus === 'writable'

export class Links {
  readonly #node: MeshNode
  readonly #log: Logger
  readonly #topic: string
  /** Connected peers, by id. */
  readonly #watches = new Map<string, GossipWatch>()
  /** Connected peers gossipsub has held as subscribers since they connected (logged once each). */
  readonly #joined = new Set<string>()

  constructor (node: MeshNode, topic: string, log: Logger) {
    this.#node = node
    this.#topic = topic
    this.#log = log
    node.addEventListener('connection:open', (evt) => this.#opened(evt.detail))
    node.services.pubsub.addEventListener('subscription-change', (evt) => {
      if (evt.detail.subscriptions.some(s => s.topic === this.#topic && s.subscribe)) this.#joinedNow(evt.detail.peerId)
    })
    node.addEventListener('peer:disconnect', (evt) => {
      this.#watches.delete(evt.detail.toString())
      this.#joined.delete(evt.detail.toString())
    })
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
      conns.map(c => ({ id: c.id, direction: c.direction, opened: c.timeline.open, streams: c.streams.length }))))
    for (const c of conns) if (close.has(c.id)) this.#closeDuplicate(c, 'opening')
  }

  /**
   * A peer's subscription came: the first since it connected is logged with the wait since its
   * oldest open connection opened, which is how long it took to count as reachable (on a starved
   * start, minutes: the README's mesh section).
   */
  #joinedNow (peer: PeerId): void {
    const id = peer.toString()
    if (this.#joined.has(id)) return
    const open = this.#node.getConnections(peer).filter(c => c.status === 'open')
    if (open.length === 0) return
    this.#joined.add(id)
    this.#log.info({ event: 'peer-gossip-joined', peer: id, waitMs: Date.now() - Math.min(...open.map(c => c.timeline.open)) }, 'connected peer joined gossip')
  }

  #closeDuplicate (c: Connection, when: 'opening' | 'spare'): void {
    this.#log.info({ event: 'peer-duplicate', peer: c.remotePeer.toString(), direction: c.direction, when }, 'closing a second connection to a peer')
    c.close().catch(() => c.abort(new Error('duplicate connection')))
  }

  /**
   * A connection closed while another to its peer stays: if gossipsub's stream to the peer ran on the
   * closed one, it has none now and opens one only when told of a connection, which the registrar
   * does after identify. So the connection left is identified again now, not at the next pass.
   */
  #reoffer (peer: PeerId): void {
    const open = this.#node.getConnections(peer).filter(c => c.status === 'open')
    if (open.length > 0 && !open.some(c => c.streams.some(gossipOut))) this.#identify(open[0]!)
  }

  #identify (conn: Connection): void {
    const peer = conn.remotePeer.toString()
    this.#log.debug({ peer }, 'identifying a connection again for gossipsub')
    this.#node.services.identify.identify(conn).catch((err: unknown) => this.#log.debug({ peer, err: (err as Error).message }, 'identify failed'))
  }

  /** One pass of the dial loop: every connected peer's gossipsub state repaired, spare duplicates closed. */
  repair (now: number): void {
    const subscribed = new Set(this.#node.services.pubsub.getSubscribers(this.#topic).map(p => p.toString()))
    const byPeer = new Map<string, Connection[]>()
    for (const c of this.#node.getConnections()) {
      if (c.status !== 'open') continue
      const peer = c.remotePeer.toString()
      const list = byPeer.get(peer)
      if (list === undefined) byPeer.set(peer, [c])
      else list.push(c)
    }
    for (const peer of this.#watches.keys()) if (!byPeer.has(peer)) this.#watches.delete(peer)
    for (const peer of this.#joined) if (!byPeer.has(peer)) this.#joined.delete(peer)
    for (const [peer, conns] of byPeer) {
      const w = this.#watches.get(peer) ?? newWatch()
      this.#watches.set(peer, w)
      const inbound = conns.flatMap(c => c.streams.filter(gossipIn))
      const outbound = conns.some(c => c.streams.some(gossipOut))
      const acts = repairStep(w, { outbound, inbound: inbound.length > 0, subscribed: subscribed.has(peer) }, now)
      for (const act of acts) {
        this.#log.info({ event: `peer-gossip-${act}`, peer }, 'connected peer missing from gossip; repairing')
        if (act === 'identify') this.#identify(conns[0]!)
        else if (act === 'reset') for (const s of inbound) s.abort(new Error('not subscribed: gossip stream reset'))
        else this.#node.hangUp(conns[0]!.remotePeer).catch((err: unknown) => this.#log.debug({ peer, err: (err as Error).message }, 'hang-up failed'))
      }
      if (acts.length > 0) continue
      const facts = conns.map(c => ({ id: c.id, gossipOut: c.streams.filter(gossipOut).length, gossipIn: c.streams.filter(gossipIn).length, streams: c.streams.length }))
      const close = new Set(spare(this.#node.peerId.toString() < peer, facts))
      for (const c of conns) if (close.has(c.id)) this.#closeDuplicate(c, 'spare')
    }
  }
}
