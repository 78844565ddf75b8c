/**
 * An in-memory network between simulated peers. Messages wait in one pool and are delivered in an
 * order the seed chooses, so they are delayed and reordered; some are dropped or duplicated. A
 * partition is a group number per peer: only peers in the same group reach each other.
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

export class Network {
  private pool: Packet[] = []
  private readonly group = new Map<PeerId, number>()
  private readonly rnd: Prng
  faults: Faults

  constructor (rnd: Prng, faults: Faults) {
    this.rnd = rnd
    this.faults = faults
  }

  connected (a: PeerId, b: PeerId): boolean {
    return (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0)
  }

  /** Splits the given peers off into a group of their own. */
  partition (peers: readonly PeerId[], group: number): void {
    for (const p of peers) this.group.set(p, group)
  }

  heal (): void { this.group.clear() }

  send (p: Packet): void {
    if (this.rnd.chance(this.faults.drop)) return
    this.pool.push(p)
    if (this.rnd.chance(this.faults.duplicate)) this.pool.push(p)
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
  }
}
