/**
 * Pod metadata of allocations on their way to the store, by attachment key: the socket's requests
 * put it here and the store's commit reads it when the core's batch names the key.
 */
import { attachmentOfKey } from './attachment-key.ts'
import type { AttachmentMeta, PoolStore } from './store.ts'

export class IncomingMeta {
  readonly #store: PoolStore
  readonly #clock: () => number
  readonly #pending = new Map<string, AttachmentMeta>()

  constructor (store: PoolStore, clock: () => number) {
    this.#store = store
    this.#clock = clock
  }

  set (key: string, meta: AttachmentMeta): void {
    this.#pending.set(key, meta)
  }

  delete (key: string): void {
    this.#pending.delete(key)
  }

  /** The metadata to persist with a new allocation of `key`. */
  metaFor (key: string): AttachmentMeta {
    const known = this.#pending.get(key) ?? this.#store.allocations.get(key)
    return known ?? metaFromKey(key, this.#clock())
  }
}

/** Metadata recovered from the attachment key alone, for an allocation that arrived without any. */
export function metaFromKey (key: string, now: number): AttachmentMeta {
  return { ...attachmentOfKey(key), allocatedAt: now }
}
