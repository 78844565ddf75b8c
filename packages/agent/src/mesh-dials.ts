/**
 * The addresses the mesh keeps dialling, and when: WEFT_PEERS (`configured`), the Kubernetes Node
 * list (`discovered`: replaced by each listing, so a deleted node's address is dropped) and the
 * address books of connected peers (`learned`: dropped when the ring removes the peer). A failed
 * address is retried after a delay that doubles from the reconnect interval up to MAX_RETRY_MS, so
 * a heal is noticed within seconds; a new address, and a peer heard of through gossip while not
 * connected, are dialled at once. No I/O and no clock: the mesh passes the time in.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, RingState } from '@weft/ring'

/** The longest wait between two dials of one address (unless the reconnect interval is longer). */
export const MAX_RETRY_MS = 3_000
/**
 * How long the higher peer id of a pair leaves the dial to the lower one, for a lost connection or a
 * peer both just learnt (a handshake between two starved agents takes seconds); dialled by both at
 * once, they get two connections, one is closed, and gossipsub may lose the peer with it.
 */
export const LOWER_FIRST_MS = 10_000
/**
 * The longest the farther half of a shared WEFT_PEERS list is left to dial this agent first
 * (`placeSelf`): its agents dial their nearer half, at most MAX_PARALLEL_DIALS at a time, before they
 * reach this one, and 50 agents starting at once on 2 cores took 30-45 s just to start (at a fixed
 * 30 s, 330 pairs of a 50-agent start still dialled each other at once). Sooner, LOWER_FIRST_MS after
 * this agent's own nearer half is settled (each connected or found unreachable: not merely refused
 * by an agent still starting, nor timed out by one starved; counting timeouts, a loaded start dialled
 * its farther halves early and 270 pairs dialled each other at once): then a list not shared (a
 * newcomer listing peers that do not list it) or a partition does not keep a peer undialled for the
 * whole wait. At once, if none of the nearer half can be reached (`#settleHalves`).
 */
export const FAR_HALF_MS = 60_000
/**
 * An agent still starting refuses its port for a second or two, and a refused dial costs a SYN and a
 * RST: it is retried REFUSED_RETRY_MS later (or at the reconnect interval, if shorter), its first
 * REFUSED_QUICK_TRIES times, then like any failure. Retried at the doubling interval, a peer that
 * refused came up to MAX_RETRY_MS before its dial, and its other end (this agent in its farther half)
 * waits for that dial: a consensus=N start then proposed without it and split the ring unevenly.
 */
export const REFUSED_RETRY_MS = 500
export const REFUSED_QUICK_TRIES = 10
/** Dials in flight at once: enough for a heal of several peers, few enough that each handshake finishes. */
export const MAX_PARALLEL_DIALS = 8
/**
 * A dial that timed out halves the dials allowed in flight (down to one), a dial that completed
 * adds one back: a handshake that outlasts its timeout is work lost on both ends, and on a starved
 * machine more handshakes at once only make each one slower. A refused dial costs nothing and
 * changes nothing.
 */
export type DialOutcome = 'connected' | 'timed-out' | 'refused' | 'failed'

export type TargetSource = 'configured' | 'discovered' | 'learned'

export interface DialTarget {
  readonly addr: Multiaddr
  readonly source: TargetSource
  /** The peer found (or, for learned ones, named) at this address. */
  peer: string | null
  /** The address is this agent's own (one peer list shared by every node). */
  self: boolean
  failures: number
  nextAttempt: number
  /** A dial is under way: no second one. */
  dialling: boolean
  /** When its peer was last seen connected (0: never). */
  connectedAt: number
  /** Its last dial failed at once, neither refused nor timed out (no route, say): nothing we can reach listens there. */
  unreachable: boolean
  /** Its half of a shared WEFT_PEERS list (`placeSelf`) while the farther half waits; null: no such wait. */
  half: 'near' | 'far' | null
}

const newTarget = (addr: Multiaddr, source: TargetSource, peer: string | null = null): DialTarget =>
  ({ addr, source, peer, self: false, failures: 0, nextAttempt: 0, dialling: false, connectedAt: 0, unreachable: false, half: null })

/**
 * The peers `ring` removed that every other pool's ring removed too, or no longer names at all (the
 * floor compacts a completed removal away with the record): gone from the mesh.
 */
export function removedEverywhere (ring: RingState, others: readonly RingState[]): PeerId[] {
  const gone = (o: RingState, peer: PeerId): boolean => o.removed.some(r => r.peer === peer) ||
    (!o.members.some(m => m.peer === peer) && !o.entries.some(e => e.owner === peer))
  return ring.removed.map(r => r.peer).filter(peer => others.every(o => gone(o, peer)))
}

/**
 * How a dial that threw ended: cut by its timeout (the handshake outlasted it), refused (the address
 * answers, but nothing listens there yet: an agent still starting), or failed at once (no route, say).
 */
export function failureOf (err: unknown): Exclude<DialOutcome, 'connected'> {
  const { name, message = '' } = err as Error
  if (name === 'TimeoutError' || /aborted due to timeout/i.test(message)) return 'timed-out'
  return /ECONNREFUSED/.test(message) ? 'refused' : 'failed'
}

/** libp2p's refusal of a dial that reached this agent itself (its own address in WEFT_PEERS). */
export function isSelfDial (err: unknown): boolean {
  return /dial self/i.test((err as Error).message ?? '')
}

export class DialSet {
  #targets: DialTarget[]
  readonly #reconnectMs: number
  /** LOWER_FIRST_MS, or the reconnect interval if longer. */
  readonly #lowerFirstMs: number
  readonly #self: string
  /** Peers the ring removed: never learned again. */
  readonly #forgotten = new Set<string>()
  /** This agent is in its WEFT_PEERS list, which then decides which end of a pair dials first (`placeSelf`). */
  #placed = false
  /** Dials allowed in flight now (`DialOutcome`). */
  #parallel = MAX_PARALLEL_DIALS

  constructor (self: string, configured: readonly Multiaddr[], reconnectMs: number) {
    this.#self = self
    this.#reconnectMs = reconnectMs
    this.#lowerFirstMs = Math.max(reconnectMs, LOWER_FIRST_MS)
    this.#targets = configured.map(a => newTarget(a, 'configured'))
  }

  get size (): number { return this.#targets.length }

  /** Dials allowed in flight now: MAX_PARALLEL_DIALS until dials time out. */
  get parallel (): number { return this.#parallel }

  /**
   * Targets a dial should start for now: not our own, not connected, not in flight, backoff over; at
   * most `parallel` in flight, the longest due first. A cluster starting at once would
   * otherwise start every handshake together: on a small machine they then all outlast the dial
   * timeout, are aborted and started again, and none completes.
   */
  due (now: number, connected: (peer: string) => boolean): { start: DialTarget[], more: boolean } {
    this.#settleHalves(now, connected)
    const ready = this.#targets.filter(t => {
      if (t.self || t.dialling) return false
      if (t.peer !== null && connected(t.peer)) { t.failures = 0; t.connectedAt = now; return false }
      // Lost, to a lower peer: it dials first (both dialling at once would make two connections).
      if (t.peer !== null && t.connectedAt > 0 && this.#self > t.peer && now - t.connectedAt < this.#lowerFirstMs) return false
      return t.nextAttempt <= now
    })
    // A stable sort: targets due together keep the list's order (`placeSelf`).
    ready.sort((a, b) => a.nextAttempt - b.nextAttempt)
    const room = Math.max(0, this.#parallel - this.#targets.filter(t => t.dialling).length)
    return { start: ready.slice(0, room), more: ready.length > room }
  }

  /**
   * Once the nearer half is settled, the farther is dialled LOWER_FIRST_MS later (or at FAR_HALF_MS,
   * if sooner); at once if none of the nearer half could be reached and nothing is connected: cut off
   * (a newcomer on one side of a partition, listing peers there that do not list it), this agent
   * would otherwise sit alone for LOWER_FIRST_MS with nobody to learn the mesh from. A start never
   * meets that: its nearer half refuses or connects.
   */
  #settleHalves (now: number, connected: (peer: string) => boolean): void {
    if (!this.#targets.some(t => t.half === 'far')) return
    const near = this.#targets.filter(t => t.half === 'near')
    const isUp = (t: DialTarget): boolean => t.peer !== null && connected(t.peer)
    if (!near.every(t => isUp(t) || t.unreachable)) return
    const alone = near.length > 0 && !this.#targets.some(isUp)
    for (const t of this.#targets) {
      if (t.half === 'far') t.nextAttempt = Math.min(t.nextAttempt, alone ? now : now + this.#lowerFirstMs)
      t.half = null
    }
  }

  /**
   * This agent's own addresses (where it listens) at `now`: a listed one is never dialled, and the
   * list is dialled starting after it, the nearer half at once and the farther half only after
   * FAR_HALF_MS or once the nearer is settled. Every agent given one list would otherwise dial it in the same order: all at the
   * first few agents at once, and each pair of the first few at each other at once (two handshakes,
   * one connection closed). A peer d places on sees this agent n - d places on, so of each pair
   * exactly one has the other in its nearer half (of two exactly n/2 apart, the one listening at the
   * lower address): each pair costs one handshake, not two. Dialled by both, as when both merely
   * started after themselves, 630 of a 50-agent mesh's 1,225 connections were duplicates, and a pair
   * kept with two connections could lose gossipsub on them for minutes.
   */
  placeSelf (own: readonly Multiaddr[], now: number): void {
    const at = this.#targets.findIndex(t => t.source === 'configured' && own.some(a => a.equals(t.addr)))
    if (at < 0) return
    const self = this.#targets[at]!
    self.self = true
    this.#placed = true
    const others = [...this.#targets.slice(at + 1), ...this.#targets.slice(0, at)]
    const half = Math.floor(others.length / 2)
    const mine = self.addr.toString()
    others.forEach((t, i) => {
      const middle = others.length % 2 === 1 && i === half
      t.half = i >= half && !(middle && mine < t.addr.toString()) ? 'far' : 'near'
      if (t.half === 'far') t.nextAttempt = Math.max(t.nextAttempt, now + FAR_HALF_MS)
    })
    this.#targets = [...others, self]
  }

  /** A dial ended: a failed target waits before its next (doubling to MAX_RETRY_MS), and the dials allowed in flight follow `outcome`. */
  ended (t: DialTarget, outcome: DialOutcome, now: number): void {
    // A handshake that timed out says the peer is slow, not gone: on a starved start that peer waits for this dial.
    t.unreachable = outcome === 'failed'
    if (outcome === 'connected') {
      t.failures = 0
      this.#parallel = Math.min(MAX_PARALLEL_DIALS, this.#parallel + 1)
      return
    }
    if (outcome === 'timed-out') this.#parallel = Math.max(1, Math.floor(this.#parallel / 2))
    t.failures++
    if (outcome === 'refused' && t.failures <= REFUSED_QUICK_TRIES) {
      t.nextAttempt = now + Math.min(this.#reconnectMs, REFUSED_RETRY_MS)
      return
    }
    const ceiling = Math.max(this.#reconnectMs, MAX_RETRY_MS)
    t.nextAttempt = now + Math.min(ceiling, this.#reconnectMs * 2 ** (t.failures - 1))
  }

  /** A configured address resolved from a DNS name; false if it was known already. */
  addConfigured (addr: Multiaddr): boolean {
    if (this.#targets.some(t => t.addr.equals(addr))) return false
    this.#targets.push(newTarget(addr, 'configured'))
    return true
  }

  /** The Node list's addresses now: returns the dropped and whether any is new (to dial at once). */
  setDiscovered (addrs: readonly string[]): { dropped: DialTarget[], added: boolean } {
    // By canonical string, in sets: the Node list is polled, and a cluster may have thousands of nodes.
    const wanted = new Map(addrs.map(a => { const m = multiaddr(a); return [m.toString(), m] as const }))
    const have = new Set(this.#targets.map(t => t.addr.toString()))
    const isKept = (t: DialTarget): boolean => t.source !== 'discovered' || wanted.has(t.addr.toString())
    const dropped = this.#targets.filter(t => !isKept(t))
    const added = [...wanted].filter(([s]) => !have.has(s)).map(([, m]) => newTarget(m, 'discovered'))
    this.#targets = [...this.#targets.filter(isKept), ...added]
    return { dropped, added: added.length > 0 }
  }

  /**
   * A peer's address from a book or its identify report; true if it is new. Both ends of a pair
   * learn each other at about the same time: the one with the lower id dials at once, the other
   * only if no connection came within `LOWER_FIRST_MS` (so a pair costs one handshake, not two).
   */
  learn (peer: string, addr: Multiaddr, now: number): boolean {
    if (peer === this.#self || this.#forgotten.has(peer)) return false
    const known = this.#targets.find(t => t.peer === peer || t.addr.equals(addr))
    if (known !== undefined) {
      // A listed address not dialled yet, now known to be a lower peer's: it dials us, as for a new one
      // (unless the shared list decides, `placeSelf`: that peer may be leaving this dial to us).
      if (known.peer === null && known.failures === 0 && !known.dialling && this.#self > peer && !(this.#placed && known.source === 'configured')) {
        known.nextAttempt = Math.max(known.nextAttempt, now + this.#lowerFirstMs)
      }
      known.peer ??= peer
      return false
    }
    const t = newTarget(addr, 'learned', peer)
    if (this.#self > peer) t.nextAttempt = now + this.#lowerFirstMs
    this.#targets.push(t)
    return true
  }

  /** `peer` sent something through the mesh while not connected: dial it now; true if there is an address to. */
  heard (peer: string): boolean {
    let any = false
    for (const t of this.#targets) {
      if (t.peer !== peer || t.self || t.dialling) continue
      t.nextAttempt = 0
      any = true
    }
    return any
  }

  /** The ring removed these peers: their learned addresses go, and are not learned again. */
  forget (peers: Iterable<string>): DialTarget[] {
    const gone = new Set(peers)
    for (const p of gone) this.#forgotten.add(p)
    const isDropped = (t: DialTarget): boolean => t.source === 'learned' && t.peer !== null && gone.has(t.peer)
    const dropped = this.#targets.filter(isDropped)
    if (dropped.length > 0) this.#targets = this.#targets.filter(t => !isDropped(t))
    return dropped
  }
}
