/**
 * Liveness of the mesh's connections: TCP alone notices a silent partition only after minutes, so
 * every connection is pinged. Not with libp2p's connection monitor, which opens a stream per ping
 * (a protocol negotiation, a 32-byte echo and a close, several encrypted frames each way on both
 * ends): that was half of an idle agent's CPU at 10 agents and grows with every connection. Yamux
 * has a ping of its own, one 12-byte frame each way on the open connection; its keep-alive sends
 * it but never drops a connection that stops answering, so this runs it and does.
 */
import { setMaxListeners } from 'node:events'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { AbortOptions, Connection, MultiaddrConnection, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'
import type { Logger } from './log.ts'

/** The least a ping may take before its connection is dropped: a busy machine answers late. */
export const PING_TIMEOUT_MS = 10_000

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
  #timer: NodeJS.Timeout | null = null

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
    this.#timer = setInterval(() => this.#round(connections()), this.#intervalMs)
  }

  stop (): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #round (connections: readonly Connection[]): void {
    // One deadline for the whole round: every ping of it starts now.
    const signal = AbortSignal.timeout(PING_TIMEOUT_MS)
    setMaxListeners(Infinity, signal)
    for (const conn of connections) {
      const muxer = this.#muxers.get(conn.streams)
      if (muxer === undefined || conn.status !== 'open') continue
      muxer.ping({ signal }).catch((err: unknown) => {
        if (conn.status !== 'open') return
        this.#log.info({ event: 'peer-silent', peer: conn.remotePeer.toString(), err: (err as Error).message }, 'connection does not answer pings; dropping it')
        conn.abort(new Error('no answer to a ping'))
      })
    }
  }
}
