/**
 * An in-memory network between simulated peers. Messages wait in one pool and are delivered in an
 * order the seed chooses, so they are delayed and reordered; some are dropped or duplicated. A
 * partition is a group number per peer: only peers in the same group reach each other; a cut link
 * parts two peers of one group while each still reaches the others (A reaches X, B does not). A packet may
 * also be late: `lag` holds it back for some ticks (a slow link, a starved receiver), so replies can
 * come after a ballot timeout.
 */
import type { Message, PeerId } from '../src/types.ts'
import type { Prng } from './prng.ts'

export interface Packet {
  readonly from: PeerId
  readonly to: PeerId
  readonly msg: Message
}

export interface Faults {
  readonly drop: number
  readonly duplicate: number
}

export const RELIABLE: Faults = { drop: 0, duplicate: 0 }

const linkOf = (a: PeerId, b: PeerId): string => a < b ? `${a} ${b}` : `${b} ${a}`

/** Ticks a packet is held back before it can be delivered; none by default. */
export type Lag = (p: Packet) => number

export class Network {
  private pool: Packet[] = []
  /** Late packets by the tick they become deliverable. */
  private readonly later = new Map<number, Packet[]>()
  private now = 0
  private readonly group = new Map<PeerId, number>()
  /** Cut links, as `a b` with a < b: a link is both directions of one connection. */
  private readonly cuts = new Set<string>()
  private readonly rnd: Prng
  faults: Faults
  lag: Lag = () => 0

  constructor (rnd: Prng, faults: Faults) {
    this.rnd = rnd
    this.faults = faults
  }

  connected (a: PeerId, b: PeerId): boolean {
    if ((this.group.get(a) ?? 0) !== (this.group.get(b) ?? 0)) return false
    return this.cuts.size === 0 || !this.cuts.has(linkOf(a, b))
  }

  /** Cuts (`up` false) or mends the link between two peers. */
  link (a: PeerId, b: PeerId, up: boolean): void {
    if (up) this.cuts.delete(linkOf(a, b))
    else this.cuts.add(linkOf(a, b))
  }

  /** Every link mended (partitions stay). */
  mendAll (): void { this.cuts.clear() }

  /** Splits the given peers off into a group of their own. */
  partition (peers: readonly PeerId[], group: number): void {
    for (const p of peers) this.group.set(p, group)
  }

  heal (): void { this.group.clear() }

  send (p: Packet): void {
    if (this.rnd.chance(this.faults.drop)) return
    this.enqueue(p)
    if (this.rnd.chance(this.faults.duplicate)) this.enqueue(p)
  }

  private enqueue (p: Packet): void {
    const lag = this.lag(p)
    if (lag <= 0) { this.pool.push(p); return }
    const due = this.now + lag
    const bucket = this.later.get(due)
    if (bucket === undefined) this.later.set(due, [p])
    else bucket.push(p)
  }

  /** One tick passes: packets held back until now become deliverable. */
  tick (): void {
    this.now++
    const due = this.later.get(this.now)
    if (due === undefined) return
    this.later.delete(this.now)
    for (const p of due) this.pool.push(p)
  }

  /** Packets held back, not yet deliverable. */
  get lateCount (): number {
    let n = 0
    for (const b of this.later.values()) n += b.length
    return n
  }

  /** Takes one packet, chosen at random (so order is not kept); packets across a partition are lost. */
  take (): Packet | null {
    while (this.pool.length > 0) {
      const i = this.rnd.int(this.pool.length)
      const p = this.pool[i]!
      this.pool[i] = this.pool[this.pool.length - 1]!
      this.pool.pop()
      if (this.connected(p.from, p.to)) return p
    }
    return null
  }

  /** Forgets every packet to a peer (it crashed: what was on its way to it is lost). */
  dropFor (peer: PeerId): void {
    this.pool = this.pool.filter(p => p.to !== peer)
    for (const [due, b] of this.later) this.later.set(due, b.filter(p => p.to !== peer))
  }
}
