/**
 * A simulated store: what one peer's persist deltas wrote, and nothing else. A restarted peer gets
 * exactly this back, so anything the peer forgot to persist before acting on it is lost, as on a crash.
 */
import type { AcceptorRecord, Allocation, Cidr, PersistDelta, PersistedPeer, RingState } from '../src/types.ts'

/** The payload a simulated allocation carries, as pod metadata does in the agent: one per key, so a restart can check it. */
export const podOf = (key: string): string => `pod of ${key}`

export class Disk {
  private ring: RingState | null = null
  private readonly allocations = new Map<string, Allocation<string>>()
  private readonly acceptor = new Map<string, AcceptorRecord>()
  private readonly universe: Cidr

  constructor (universe: Cidr) {
    this.universe = universe
  }

  /** One atomic batch. */
  apply (d: PersistDelta<string>): void {
    if (d.ring !== undefined) this.ring = d.ring
    for (const r of d.acceptor ?? []) this.acceptor.set(r.key, r)
    for (const a of d.putAllocations) this.allocations.set(a.key, a)
    for (const k of d.deleteAllocations) this.allocations.delete(k)
  }

  /** A copy, as a backup or a VM snapshot would keep it. */
  copy (): Disk {
    const d = new Disk(this.universe)
    d.ring = this.ring
    for (const [k, v] of this.allocations) d.allocations.set(k, v)
    for (const [k, v] of this.acceptor) d.acceptor.set(k, v)
    return d
  }

  /** What a restart reads; undefined when nothing was ever written. */
  load (): PersistedPeer<string> | undefined {
    if (this.ring === null && this.acceptor.size === 0) return undefined
    return {
      ring: this.ring ?? { universe: this.universe, seeds: [], entries: [], members: [], removed: [], floor: 0, level: 0 },
      allocations: [...this.allocations.values()],
      acceptor: [...this.acceptor.values()]
    }
  }
}
