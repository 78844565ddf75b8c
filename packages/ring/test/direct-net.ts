/**
 * A handful of peers wired to each other directly, for tests that count or drop what they say: every
 * Ready is taken and advanced, its messages delivered one at a time (bounded), unless `drop` says so,
 * at once or, with `late`, that many ticks later (as a busy mesh delivers). A peer taken out of the
 * map is gone: a broadcast leaves it out, and what was on its way to it is lost.
 */
import type { Peer } from '../src/peer.ts'
import type { Message, PeerId } from '../src/types.ts'

export interface DirectNet {
  /** Delivers until nothing is left that is due; throws if messages are still flowing after 10,000 deliveries. */
  flush: () => void
  /** `n` times: every peer ticks once, then `flush`. */
  tick: (n: number) => void
  /** Messages sent so far (a broadcast counts once); `persisted` the batches that wrote something. */
  readonly counts: { sent: number, persisted: number }
  /** Messages sent so far by kind (`digest*` a digest round to all, `digest` an answer to one). */
  readonly kinds: Map<string, number>
}

const MAX_DELIVERIES = 10_000

export function directNet<P> (peers: ReadonlyMap<PeerId, Peer<P>>, drop: (from: PeerId, to: PeerId, msg: Message) => boolean = () => false, late: () => number = () => 0): DirectNet {
  const counts = { sent: 0, persisted: 0 }
  const kinds = new Map<string, number>()
  let now = 0
  const later: Array<{ at: number, from: PeerId, to: PeerId, msg: Message }> = []
  const flush = (): void => {
    const queue: Array<{ from: PeerId, to: PeerId, msg: Message }> = []
    for (let i = later.length - 1; i >= 0; i--) if (later[i]!.at <= now) queue.unshift(...later.splice(i, 1))
    for (let round = 0; round < MAX_DELIVERIES; round++) {
      for (const [id, p] of peers) {
        while (p.hasReady()) {
          const rd = p.ready()
          p.advance()
          if (rd.persist !== null) counts.persisted++
          for (const m of rd.messages) {
            counts.sent++
            const kind = `${m.msg.type}${m.to === 'all' ? '*' : ''}`
            kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
            for (const to of m.to === 'all' ? [...peers.keys()].filter(q => q !== id) : [m.to]) {
              if (drop(id, to, m.msg)) continue
              const delay = late()
              if (delay > 0) later.push({ at: now + delay, from: id, to, msg: m.msg })
              else queue.push({ from: id, to, msg: m.msg })
            }
          }
        }
      }
      const next = queue.shift()
      if (next === undefined) return
      peers.get(next.to)?.step(next.from, next.msg)
    }
    throw new Error(`messages still flowing after ${MAX_DELIVERIES} deliveries`)
  }
  const tick = (n: number): void => {
    for (let t = 0; t < n; t++) {
      now++
      for (const p of peers.values()) p.tick()
      flush()
    }
  }
  return { flush, tick, counts, kinds }
}
