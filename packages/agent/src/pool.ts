/**
 * The pools an agent serves: each a named range with its own core peer and Ready loop, over the one
 * mesh and the one store. Requests name pools; this is where a name is looked up.
 */
import type { Peer, Universe } from '@weft/ring'
import type { Driver } from './driver.ts'
import type { AttachmentMeta, StoredAllocation } from './store.ts'

export interface Pool {
  readonly name: string
  readonly universe: Universe
  readonly peer: Peer<AttachmentMeta>
  readonly driver: Driver<AttachmentMeta>
  /** The pool's allocations as written, by attachment key. */
  readonly allocations: ReadonlyMap<string, StoredAllocation>
  /** No new allocations: the pool's holders keep their addresses. */
  readonly draining: boolean
}

/** What request validation needs to know about the pools: which exist, their ranges, the defaults. */
export interface PoolCatalog {
  /** The pools an allocation without `pools` takes one address from each, in order. */
  readonly defaults: readonly string[]
  /** Every pool served, in configuration order. */
  readonly names: readonly string[]
  /** The pool's range; undefined for a pool this agent does not serve. */
  universe: (pool: string) => Universe | undefined
}

export class Pools implements PoolCatalog {
  readonly defaults: readonly string[]
  readonly #byName: Map<string, Pool>

  constructor (pools: readonly Pool[], defaults: readonly string[]) {
    this.#byName = new Map(pools.map(p => [p.name, p]))
    this.defaults = defaults
  }

  get names (): string[] {
    return [...this.#byName.keys()]
  }

  /** How many pools are served. */
  get size (): number {
    return this.#byName.size
  }

  /** A retired pool: no more requests, messages or ticks reach it. */
  remove (name: string): void {
    this.#byName.delete(name)
  }

  get all (): Pool[] {
    return [...this.#byName.values()]
  }

  find (name: string): Pool | undefined {
    return this.#byName.get(name)
  }

  /** The pool named; a name that passed validation is always served. */
  get (name: string): Pool {
    const p = this.#byName.get(name)
    if (p === undefined) throw new Error(`no pool ${JSON.stringify(name)}`)
    return p
  }

  universe (pool: string): Universe | undefined {
    return this.#byName.get(pool)?.universe
  }
}
