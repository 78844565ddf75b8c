/**
 * A handful of peers wired to each other directly, for tests that count or drop what they say: every
 * Ready is taken and advanced, its messages delivered one at a time (bounded), unless `drop` says so.
 */
import type { Peer } from '../src/peer.ts'
import type { Message, PeerId } from '../src/types.ts'

export interface DirectNet {
  /** Delivers until nothing is left; throws if messages are still flowing after 10,000 deliveries. */
  flush: () => void
  /** `n` times: every peer ticks once, then `flush`. */
  tick: (n: number) => void
  /** Messages sent so far (a broadcast counts once); `persisted` the batches that wrote something. */
  readonly counts: { sent: number, persisted: number }
}

const MAX_DELIVERIES = 10_000

export function directNet<P> (peers: ReadonlyMap<PeerId, Peer<P>>, drop: (from: PeerId, to: PeerId) => boolean = () => false): DirectNet {
  const ids = [...peers.keys()]
  const counts = { sent: 0, persisted: 0 }
  const flush = (): void => {
    const queue: Array<{ from: PeerId, to: PeerId, msg: Message }> = []
    for (let round = 0; round < MAX_DELIVERIES; round++) {
      for (const [id, p] of peers) {
        while (p.hasReady()) {
          const rd = p.ready()
          p.advance()
          if (rd.persist !== null) counts.persisted++
          for (const m of rd.messages) {
            counts.sent++
            for (const to of m.to === 'all' ? ids.filter(q => q !== id) : [m.to]) {
              if (!drop(id, to)) queue.push({ from: id, to, msg: m.msg })
            }
          }
        }
      }
      const next = queue.shift()
      if (next === undefined) return
      peers.get(next.to)!.step(next.from, next.msg)
    }
    throw new Error(`messages still flowing after ${MAX_DELIVERIES} deliveries`)
  }
  const tick = (n: number): void => {
    for (let t = 0; t < n; t++) {
      for (const p of peers.values()) p.tick()
      flush()
    }
  }
  return { flush, tick, counts }
}
