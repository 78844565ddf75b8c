/**
 * Liveness of the mesh's connections: TCP alone notices a silent partition only after minutes, so
 * every connection is watched. Not with libp2p's connection monitor, which opens a stream per ping
 * (a protocol negotiation, a 32-byte echo and a close, several encrypted frames each way on both
 * ends). Yamux has a ping of its own, one 12-byte frame each way on the open connection; its
 * keep-alive sends it but never drops a connection that stops answering, so this sends it and does.
 *
 * One end pings: the dialler, every WEFT_PING_MS. Each end judges by what it hears, any frame at all
 * (a ping, its answer, gossip): the dialler drops a connection silent for PING_TIMEOUT_MS, the other
 * end one silent for PING_TIMEOUT_MS and two ping intervals (the pings it expects, late). Silence is
 * counted in this process's own time: a round that runs late (the agent starved of CPU, a long GC)
 * counts one interval, not the time it was kept from running, and only after the frames then
 * waiting unread in its sockets are read.
 *
 * The other end may be starved too: at 50 agents on 2 cores a peer busy for seconds answers late, and
 * a limit fixed at 10 s cut such connections in batches (121-437 per run), each one a new handshake
 * that kept both ends busy. So the limit follows the pings' own answers: at least PING_TIMEOUT_MS,
 * SLOW_FACTOR times the slowest answer this agent had lately on any connection (`Pace`), at most
 * MAX_SILENCE_MS. On a machine that answers in milliseconds that is 10 s, as before; a peer that
 * really went silent (partitioned, stopped) is dropped within MAX_SILENCE_MS of running time
 * whatever the load, and an unanswered ping never raises the limit.
 */
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, MultiaddrConnection, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'
import type { Logger } from './log.ts'

/** How long a connection may go unheard before it is dropped when pings are answered at once. */
export const PING_TIMEOUT_MS = 10_000
/** The longest a connection may go unheard, however slow the answers have been (the dialler's limit). */
export const MAX_SILENCE_MS = 30_000
/** The silence limit is this many times the slowest recent answer to a ping. */
export const SLOW_FACTOR = 3
/** The slowest answer counts at half its weight after this long: a machine's busy spell passes. */
export const SLOW_HALF_LIFE_MS = 60_000

/** What liveness needs of a muxer: yamux's ping, resolving with the round trip or rejecting. */
interface Pingable {
  readonly ping: () => Promise<number>
}

const isPingable = (m: StreamMuxer): m is StreamMuxer & Pingable => typeof (m as Partial<Pingable>).ping === 'function'

/** What liveness knows of one connection between rounds. */
export interface Watch {
  /** A frame arrived since the last round. */
  heard: boolean
  /** Silence so far, in this process's own time (see the file's comment). */
  quietMs: number
  /** A ping is on its way and not answered yet: no second one. */
  pinging: boolean
}

/** The slowest recent answer to a ping, on any connection of this agent: what it is at `atMs`, decaying from there. */
export interface Pace {
  slowMs: number
  atMs: number
}

export const newPace = (): Pace => ({ slowMs: 0, atMs: 0 })

/** The slowest recent answer at `now`: the one noted, halved every SLOW_HALF_LIFE_MS since. */
export function slowest (p: Pace, now: number): number {
  return p.slowMs * 0.5 ** (Math.max(0, now - p.atMs) / SLOW_HALF_LIFE_MS)
}

/** A ping answered after `rttMs`, at `now`. Updates `p`. */
export function answered (p: Pace, rttMs: number, now: number): void {
  p.slowMs = Math.max(slowest(p, now), rttMs)
  p.atMs = now
}

/**
 * The silence, in this process's own time, after which a connection is dropped: for the dialler,
 * which pings and waits for an answer, PING_TIMEOUT_MS or SLOW_FACTOR times the slowest recent
 * answer (`slowMs`), at most MAX_SILENCE_MS; the other end waits for pings, which come an interval
 * apart, two intervals longer.
 */
export function silenceLimit (dialler: boolean, intervalMs: number, slowMs = 0): number {
  const limit = Math.min(MAX_SILENCE_MS, Math.max(PING_TIMEOUT_MS, SLOW_FACTOR * slowMs))
  return dialler ? limit : limit + 2 * intervalMs
}

/**
 * One round for one connection, `sinceMs` after the last round: `drop` when it has been silent past
 * its limit (`silenceLimit` with `slowMs`), else `ping` when this end is the dialler with no ping on
 * its way. A round later than the interval counts the interval only: the rest was this process kept
 * from running. Updates `w`.
 */
export function step (w: Watch, dialler: boolean, sinceMs: number, intervalMs: number, slowMs = 0): 'drop' | 'ping' | 'wait' {
  if (w.heard) {
    w.heard = false
    w.quietMs = 0
  } else {
    w.quietMs += Math.min(sinceMs, intervalMs)
    if (w.quietMs >= silenceLimit(dialler, intervalMs, slowMs)) return 'drop'
  }
  return dialler && !w.pinging ? 'ping' : 'wait'
}

/** A connection's muxer and its watch. */
interface Watched extends Watch {
  readonly muxer: Pingable
}

/** The yamux factory libp2p is configured with (`muxers`), and the loop that watches what it made. */
export class Liveness {
  readonly #intervalMs: number
  readonly #log: Logger
  /** By stream list: a libp2p connection's `streams` is its muxer's own array (the one public field they share). */
  readonly #watched = new WeakMap<readonly unknown[], Watched>()
  readonly #pace = newPace()
  #timer: NodeJS.Timeout | null = null
  #last = 0

  constructor (intervalMs: number, log: Logger) {
    this.#intervalMs = intervalMs
    this.#log = log
  }

  /** Yamux without its own keep-alive, watching each muxer it makes for `start`'s loop. */
  muxer (): () => StreamMuxerFactory {
    const inner = yamux({ enableKeepAlive: false })
    return () => {
      const factory = inner()
      const create = factory.createStreamMuxer.bind(factory)
      factory.createStreamMuxer = (maConn: MultiaddrConnection) => {
        const muxer = create(maConn)
        if (isPingable(muxer)) {
          const w: Watched = { muxer, heard: true, quietMs: 0, pinging: false }
          // Every frame the peer sends arrives as one of these: it is alive, whatever the frame.
          maConn.addEventListener('message', () => { w.heard = true })
          this.#watched.set(muxer.streams, w)
        }
        return muxer
      }
      return factory
    }
  }

  /** Watches every open connection of `connections()` each interval: the dialler pings, a silent one is aborted. */
  start (connections: () => readonly Connection[]): void {
    if (this.#timer !== null) return
    this.#last = Date.now()
    // The round waits one turn of the event loop: after a stall timers run before sockets are read,
    // and a frame already waiting there must count.
    this.#timer = setInterval(() => setImmediate(() => { if (this.#timer !== null) this.#round(connections()) }), this.#intervalMs)
  }

  stop (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #round (connections: readonly Connection[]): void {
    const now = Date.now()
    const since = now - this.#last
    this.#last = now
    const slowMs = slowest(this.#pace, now)
    for (const conn of connections) {
      const w = this.#watched.get(conn.streams)
      if (w === undefined || conn.status !== 'open') continue
      const dialler = conn.direction === 'outbound'
      const next = step(w, dialler, since, this.#intervalMs, slowMs)
      if (next === 'drop') {
        this.#log.info({ event: 'peer-silent', peer: conn.remotePeer.toString(), quietMs: w.quietMs, slowMs: Math.round(slowMs), dialler }, 'connection silent; dropping it')
        conn.abort(new Error(`silent for ${w.quietMs} ms`))
      } else if (next === 'ping') {
        w.pinging = true
        // The answer is a frame like any other (it sets `heard`); a dead connection's ping never settles, and it goes.
        w.muxer.ping().then(rtt => { w.pinging = false; answered(this.#pace, rtt, Date.now()) }, () => { w.pinging = false })
      }
    }
  }
}
