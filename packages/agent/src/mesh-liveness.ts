/**
 * Liveness of the mesh's connections: TCP alone notices a silent partition only after minutes, so
 * every connection is pinged. Not with libp2p's connection monitor, which opens a stream per ping
 * (a protocol negotiation, a 32-byte echo and a close, several encrypted frames each way on both
 * ends): that was half of an idle agent's CPU at 10 agents and grows with every connection. Yamux
 * has a ping of its own, one 12-byte frame each way on the open connection; its keep-alive sends
 * it but never drops a connection that stops answering, so this sends it and does: a silent
 * connection goes 10 s (PING_TIMEOUT_MS) to 10 s + WEFT_PING_MS after it fell silent (10 s more if
 * this agent was itself starved meanwhile).
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import type { AbortOptions, Connection, MultiaddrConnection, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'
import type { Logger } from './log.ts'

/** The least a ping may take before its connection is dropped: a busy machine answers late. */
export const PING_TIMEOUT_MS = 10_000
/** A timer this late means the process itself was kept from running. */
const STARVED_MS = 1_000

/** What liveness needs of a muxer: yamux's ping, resolving with the round trip or rejecting on the signal. */
interface Pingable {
  readonly ping: (options?: AbortOptions) => Promise<number>
}

const isPingable = (m: StreamMuxer): m is StreamMuxer & Pingable => typeof (m as Partial<Pingable>).ping === 'function'

/** The yamux factory libp2p is configured with (`muxers`), and the loop that pings what it made. */
export class Liveness {
  readonly #intervalMs: number
  readonly #log: Logger
  /** By stream list: a libp2p connection's `streams` is its muxer's own array (the one public field they share). */
  readonly #muxers = new WeakMap<readonly unknown[], Pingable>()
  /** When each muxer's unanswered ping was sent (weak: a dropped connection's muxer goes with it). */
  readonly #unanswered = new WeakMap<Pingable, number>()
  #timer: NodeJS.Timeout | null = null
  readonly #verdicts = new Set<NodeJS.Timeout>()

  constructor (intervalMs: number, log: Logger) {
    this.#intervalMs = intervalMs
    this.#log = log
  }

  /** Yamux without its own keep-alive, remembering each muxer it makes for `start`'s loop. */
  muxer (): () => StreamMuxerFactory {
    const inner = yamux({ enableKeepAlive: false })
    return () => {
      const factory = inner()
      const create = factory.createStreamMuxer.bind(factory)
      factory.createStreamMuxer = (maConn: MultiaddrConnection) => {
        const muxer = create(maConn)
        if (isPingable(muxer)) this.#muxers.set(muxer.streams, muxer)
        return muxer
      }
      return factory
    }
  }

  /** Pings every open connection of `connections()` each interval; one that does not answer is aborted. */
  start (connections: () => readonly Connection[]): void {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => this.#round(connections), this.#intervalMs)
  }

  stop (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    for (const t of this.#verdicts) clearTimeout(t)
    this.#verdicts.clear()
  }

  /** Sends a ping on every open connection that has none unanswered; PING_TIMEOUT_MS later, the verdict. */
  #round (connections: () => readonly Connection[]): void {
    const now = Date.now()
    let sent = false
    for (const conn of connections()) {
      const muxer = this.#muxers.get(conn.streams)
      if (muxer === undefined || conn.status !== 'open' || this.#unanswered.has(muxer)) continue
      this.#unanswered.set(muxer, now)
      sent = true
      // Without a signal: it settles when the answer comes, or never on a dead connection, which goes.
      muxer.ping().then(() => this.#unanswered.delete(muxer), () => this.#unanswered.delete(muxer))
    }
    // One timer per round, not per ping. The verdict waits one more turn of the event loop: after this
    // process itself stalled (a loaded machine, a long GC) timers run before sockets are read, and an
    // answer already waiting there must count.
    if (sent) this.#verdict(connections, now, PING_TIMEOUT_MS, true)
  }

  /**
   * The verdict on the pings sent at `since`, `ms` from now. A timer that fires a second or more late
   * says this process was starved (a loaded machine): its peers likely too, so they get as long again, once.
   */
  #verdict (connections: () => readonly Connection[], since: number, ms: number, mayWait: boolean): void {
    const due = Date.now() + ms
    const timer = setTimeout(() => {
      this.#verdicts.delete(timer)
      if (mayWait && Date.now() - due >= STARVED_MS) { this.#verdict(connections, since, PING_TIMEOUT_MS, false); return }
      setImmediate(() => { if (this.#timer !== null) this.#drop(connections(), since) })
    }, ms)
    this.#verdicts.add(timer)
  }

  /** Drops the connections whose ping, sent at `since` or before, is still unanswered. */
  #drop (connections: readonly Connection[], since: number): void {
    for (const conn of connections) {
      const muxer = this.#muxers.get(conn.streams)
      const sent = muxer === undefined ? undefined : this.#unanswered.get(muxer)
      if (sent === undefined || sent > since || conn.status !== 'open') continue
      this.#log.info({ event: 'peer-silent', peer: conn.remotePeer.toString(), waitedMs: Date.now() - sent }, 'connection does not answer pings; dropping it')
      conn.abort(new Error('no answer to a ping'))
    }
  }
}
