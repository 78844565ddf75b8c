/**
 * What a peer has to say since the last `ready()`: the parts of a Ready batch, gathered as they
 * happen. Allocation changes are kept as their net effect per key (a put then a delete is a delete).
 */
import type { AcceptorRecord, Completion, CoreError, CoreErrorCode, CoreEvent, Message, Offset, Outbound, PeerId, RequestId } from './types.ts'

/** A request's failure, as completions carry it. */
export const coreError = (code: CoreErrorCode, message: string, retryable: boolean): CoreError => ({ code, message, retryable })

/**
 * Pure: no I/O. An Outbox is used batch after batch: once its Ready was acted on, the peer empties
 * it and gathers the batch after next in it (a Ready's parts are the peer's again at the next
 * `ready()`). A fresh outbox, its Map and its arrays per batch were about 0.5 KB of garbage on every
 * allocation's path; emptied with pop(), the arrays keep their room (`length = 0` drops it, and
 * the next push makes it anew).
 */
export class Outbox {
  ringDirty = false
  /** This batch changed the ring: broadcast what changed (a delta) when it goes out. */
  gossip = false
  acceptor = new Map<string, AcceptorRecord>()
  readonly allocations = new AllocationChanges()
  readonly messages: Outbound[] = []
  readonly completions: Completion[] = []
  readonly events: CoreEvent[] = []

  send (to: PeerId | 'all', msg: Message): void {
    this.messages.push({ to, msg })
  }

  fail (id: RequestId, code: CoreErrorCode, message: string, retryable: boolean): void {
    this.completions.push({ id, ok: false, error: coreError(code, message, retryable) })
  }

  isEmpty (): boolean {
    return !this.ringDirty && !this.gossip && this.acceptor.size === 0 && this.allocations.size === 0 &&
      this.messages.length === 0 && this.completions.length === 0 && this.events.length === 0
  }

  /** Empties it for another batch; returns it. */
  reset (): this {
    this.ringDirty = false
    this.gossip = false
    // Acceptor records are few and rare: a batch that had some hands them on and gets a new table.
    if (this.acceptor.size > 0) this.acceptor = new Map()
    this.allocations.reset()
    empty(this.messages)
    empty(this.completions)
    empty(this.events)
    return this
  }
}

function empty (a: unknown[]): void {
  while (a.length > 0) a.pop()
}

/** Up to this many changes a batch's keys are searched in order; past it they get an index. */
const SEARCHED = 8

/**
 * A batch's allocation changes as their net effect per key, in the order keys were first changed:
 * the offset to put, or null to delete (a put then a delete is a delete). Two arrays used batch
 * after batch; a Map of the keys only for a batch of more than a few.
 */
export class AllocationChanges {
  readonly #keys: string[] = []
  readonly #offsets: Array<Offset | null> = []
  #index: Map<string, number> | null = null

  get size (): number {
    return this.#keys.length
  }

  keyAt (i: number): string {
    return this.#keys[i]!
  }

  offsetAt (i: number): Offset | null {
    return this.#offsets[i]!
  }

  set (key: string, offset: Offset | null): void {
    const i = this.#find(key)
    if (i >= 0) {
      this.#offsets[i] = offset
      return
    }
    this.#index?.set(key, this.#keys.length)
    this.#keys.push(key)
    this.#offsets.push(offset)
    if (this.#index === null && this.#keys.length > SEARCHED) this.#index = new Map(this.#keys.map((k, at) => [k, at]))
  }

  reset (): void {
    empty(this.#keys)
    empty(this.#offsets)
    this.#index = null
  }

  #find (key: string): number {
    if (this.#index !== null) return this.#index.get(key) ?? -1
    for (let i = 0; i < this.#keys.length; i++) if (this.#keys[i] === key) return i
    return -1
  }
}
