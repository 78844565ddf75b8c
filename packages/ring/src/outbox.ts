/**
 * What a peer has to say since the last `ready()`: the parts of a Ready batch, gathered as they
 * happen. Allocation changes are kept as their net effect per key (a put then a delete is a delete).
 */
import type { AcceptorRecord, Completion, CoreError, CoreErrorCode, CoreEvent, Message, Offset, Outbound, PeerId, RequestId } from './types.ts'

/** A request's failure, as completions carry it. */
export const coreError = (code: CoreErrorCode, message: string, retryable: boolean): CoreError => ({ code, message, retryable })

export class Outbox {
  ringDirty = false
  /** This batch changed the ring: broadcast what changed (a delta) when it goes out. */
  gossip = false
  readonly acceptor: Map<string, AcceptorRecord>
  /** key -> offset to put, or null to delete. */
  readonly allocations: Map<string, Offset | null>
  readonly messages: Outbound[] = []
  readonly completions: Completion[] = []
  readonly events: CoreEvent[] = []

  /**
   * The next batch's outbox after `last` was cut: its Maps again where they are empty (a cut reads
   * them and hands none out), so a batch of one kind does not make new tables for the other.
   */
  static after (last: Outbox): Outbox {
    return new Outbox(last.acceptor.size === 0 ? last.acceptor : new Map(), last.allocations.size === 0 ? last.allocations : new Map())
  }

  constructor (acceptor = new Map<string, AcceptorRecord>(), allocations = new Map<string, Offset | null>()) {
    this.acceptor = acceptor
    this.allocations = allocations
  }

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
}
