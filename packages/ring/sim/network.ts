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

/**
 * Packets waiting to be taken, packed: sender, receiver and message each by number, in typed arrays
 * outside the heap. A digest round of 5,000 peers is 25 million packets of a few thousand messages;
 * as objects they were gigabytes for the collector to walk.
 */
class Pool {
  private from = new Uint32Array(1024)
  private to = new Uint32Array(1024)
  private msg = new Uint32Array(1024)
  length = 0

  push (from: number, to: number, msg: number): void {
    if (this.length === this.from.length) {
      const grow = (a: Uint32Array): Uint32Array<ArrayBuffer> => { const b = new Uint32Array(a.length * 2); b.set(a); return b }
      this.from = grow(this.from)
      this.to = grow(this.to)
      this.msg = grow(this.msg)
    }
    this.from[this.length] = from
    this.to[this.length] = to
    this.msg[this.length++] = msg
  }

  /** Takes packet `i` out, moving the last one into its place: [from, to, msg]. */
  take (i: number): readonly [number, number, number] {
    const p = [this.from[i]!, this.to[i]!, this.msg[i]!] as const
    const last = --this.length
    this.from[i] = this.from[last]!
    this.to[i] = this.to[last]!
    this.msg[i] = this.msg[last]!
    return p
  }

  /** Keeps, in order, the packets `keep` is true for; tells `dropped` the message of each other one. */
  filter (keep: (to: number) => boolean, dropped: (msg: number) => void): void {
    let n = 0
    for (let i = 0; i < this.length; i++) {
      if (!keep(this.to[i]!)) { dropped(this.msg[i]!); continue }
      this.from[n] = this.from[i]!
      this.to[n] = this.to[i]!
      this.msg[n++] = this.msg[i]!
    }
    this.length = n
  }
}

/** Numbers for peers and messages, so that the pool holds no objects: a message is kept while a packet of it waits. */
class Numbers {
  readonly peers: PeerId[] = []
  private readonly peerIndex = new Map<PeerId, number>()
  private readonly messages: Array<Message | undefined> = []
  private readonly refs: number[] = []
  private readonly messageIndex = new Map<Message, number>()
  private readonly freed: number[] = []

  peer (id: PeerId): number {
    let i = this.peerIndex.get(id)
    if (i === undefined) {
      i = this.peers.length
      this.peers.push(id)
      this.peerIndex.set(id, i)
    }
    return i
  }

  knownPeer (id: PeerId): number | undefined { return this.peerIndex.get(id) }

  /** One more packet of `msg`. */
  hold (msg: Message): number {
    let i = this.messageIndex.get(msg)
    if (i === undefined) {
      i = this.freed.pop() ?? this.messages.length
      this.messages[i] = msg
      this.refs[i] = 0
      this.messageIndex.set(msg, i)
    }
    this.refs[i]!++
    return i
  }

  /** One packet of message `i` less; returns the message. */
  release (i: number): Message {
    const msg = this.messages[i]!
    if (--this.refs[i]! === 0) {
      this.messageIndex.delete(msg)
      this.messages[i] = undefined
      this.freed.push(i)
    }
    return msg
  }
}

export class Network {
  private readonly pool = new Pool()
  private readonly numbers = new Numbers()
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
    if (lag <= 0) { this.pooled(p); return }
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
    for (const p of due) this.pooled(p)
  }

  private pooled (p: Packet): void {
    this.pool.push(this.numbers.peer(p.from), this.numbers.peer(p.to), this.numbers.hold(p.msg))
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
      const [f, t, m] = this.pool.take(this.rnd.int(this.pool.length))
      const p = { from: this.numbers.peers[f]!, to: this.numbers.peers[t]!, msg: this.numbers.release(m) }
      if (this.connected(p.from, p.to)) return p
    }
    return null
  }

  /** Forgets every packet to a peer (it crashed: what was on its way to it is lost). */
  dropFor (peer: PeerId): void {
    const i = this.numbers.knownPeer(peer)
    if (i !== undefined) this.pool.filter(to => to !== i, m => this.numbers.release(m))
    for (const [due, b] of this.later) this.later.set(due, b.filter(p => p.to !== peer))
  }
}
