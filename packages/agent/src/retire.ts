/**
 * Retiring a drained pool everywhere. The agent asked asks every other member of the pool's ring who
 * still holds addresses in it; only when every one answers, drains it and holds nothing (node
 * gateways aside) is the pool retired: each agent drops its ring state and never serves it again.
 * An agent that was away and still speaks of the pool is told, and drops it the same way.
 */
import { addressAt } from '@weft/ring'
import type { PeerId } from '@weft/ring'
import { ApiError } from '@weft/protocol'
import type { RetirePoolResponse } from '@weft/protocol'
import { GATEWAY_CONTAINER } from './gateway.ts'
import type { Logger } from './log.ts'
import type { Pool, Pools } from './pool.ts'
import { MAX_HOLDERS_LISTED } from './retire-messages.ts'
import type { Holder, RetireMessage } from './retire-messages.ts'

export interface RetireDeps {
  readonly self: PeerId
  readonly pools: Pools
  readonly publish: (m: RetireMessage) => void
  readonly send: (to: PeerId, m: RetireMessage) => void
  /** Stops the pool's loop and removes its state from the store and from `pools`. */
  readonly drop: (pool: string) => Promise<void>
  readonly retired: () => ReadonlySet<string>
  /** How long the other members have to answer. */
  readonly timeoutMs: number
  readonly newId: () => string
  readonly log: Logger
}

type Answer = Extract<RetireMessage, { t: 'holders' }>

interface Asking {
  readonly waiting: Set<PeerId>
  readonly answers: Map<PeerId, Answer>
  readonly done: () => void
}

export class Retirement {
  readonly #d: RetireDeps
  readonly #asking = new Map<string, Asking>()
  /** (peer, pool) pairs already told that the pool is retired: once each. */
  readonly #told = new Set<string>()

  constructor (deps: RetireDeps) {
    this.#d = deps
  }

  async retire (name: string): Promise<RetirePoolResponse> {
    const pool = this.#d.pools.find(name)
    if (pool === undefined) {
      if (this.#d.retired().has(name)) throw new ApiError(404, 'unknown-pool', `pool ${name} is retired already`)
      throw new ApiError(404, 'unknown-pool', `this agent serves no pool "${name}" (it serves ${this.#d.pools.names.join(', ')})`)
    }
    if (!pool.draining) throw new ApiError(409, 'pool-in-use', `pool ${name} is not draining here: drain it first (WEFT_POOLS "draining": true on every agent), then retire it once empty`)
    const ring = pool.peer.ring()
    const removed = new Set(ring.removed.map(r => r.peer))
    const others = ring.members.map(m => m.peer).filter(p => p !== this.#d.self && !removed.has(p))
    const answers = await this.#ask(name, others)
    const nickname = (p: PeerId): string => ring.members.find(m => m.peer === p)?.nickname ?? p
    const problems: string[] = []
    const local = holdersOf(pool)
    if (local.length > 0) problems.push(`this agent holds ${describe(local)}`)
    for (const p of others) {
      const a = answers.get(p)
      if (a === undefined) problems.push(`${nickname(p)} (${p}) did not answer (is it down? take it over with weft rmpeer first)`)
      else if (a.serves && !a.draining) problems.push(`${nickname(p)} does not drain the pool`)
      else if (a.holders.length > 0) problems.push(`${nickname(p)} holds ${describe(a.holders)}`)
    }
    if (problems.length > 0) throw new ApiError(409, 'pool-in-use', `pool ${name} cannot be retired: ${problems.join('; ')}`)
    this.#d.publish({ t: 'retired', pool: name, id: this.#d.newId() })
    await this.#drop(name, 'retired here')
    return { pool: name, agents: 1 + others.filter(p => answers.get(p)?.serves === true).length }
  }

  /** A message about retiring, from another agent. */
  receive (from: PeerId, m: RetireMessage): void {
    switch (m.t) {
      case 'holders?': {
        const pool = this.#d.pools.find(m.pool)
        const holders = pool === undefined ? [] : holdersOf(pool).slice(0, MAX_HOLDERS_LISTED)
        this.#d.send(from, { t: 'holders', pool: m.pool, id: m.id, serves: pool !== undefined, draining: pool?.draining ?? false, holders })
        return
      }
      case 'holders': {
        const asking = this.#asking.get(m.id)
        if (asking === undefined || !asking.waiting.delete(from)) return
        asking.answers.set(from, m)
        if (asking.waiting.size === 0) asking.done()
        return
      }
      case 'retired':
        if (this.#d.pools.find(m.pool) !== undefined) void this.#drop(m.pool, `retired by ${from}`)
    }
  }

  /** A peer spoke of a pool this agent does not serve: if it was retired here, the peer is told, once. */
  stillSpoken (from: PeerId, pool: string): void {
    const key = `${from}/${pool}`
    if (!this.#d.retired().has(pool) || this.#told.has(key)) return
    this.#told.add(key)
    this.#d.send(from, { t: 'retired', pool, id: this.#d.newId() })
  }

  async #ask (pool: string, peers: readonly PeerId[]): Promise<Map<PeerId, Answer>> {
    const id = this.#d.newId()
    const answers = new Map<PeerId, Answer>()
    if (peers.length === 0) return answers
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, this.#d.timeoutMs)
      this.#asking.set(id, { waiting: new Set(peers), answers, done: () => { clearTimeout(timer); resolve() } })
      this.#d.publish({ t: 'holders?', pool, id })
    })
    this.#asking.delete(id)
    return answers
  }

  async #drop (pool: string, why: string): Promise<void> {
    try {
      await this.#d.drop(pool)
      this.#d.log.warn({ event: 'pool-retired', pool, why }, 'pool retired: its ring state is gone from this node, and it is never served here again')
    } catch (err) {
      this.#d.log.error({ event: 'pool-retire-failed', pool, err: (err as Error).message }, 'could not drop a retired pool')
    }
  }
}

/** The pool's allocations on this node that belong to pods (the node's gateways go with the pool). */
function holdersOf (pool: Pool): Holder[] {
  return [...pool.allocations.values()]
    .filter(({ payload: m }) => m.containerId !== GATEWAY_CONTAINER)
    .map(({ payload: m, offset }) => ({ network: m.network, containerId: m.containerId, ifname: m.ifname, address: addressAt(pool.universe, offset) }))
}

function describe (holders: readonly Holder[]): string {
  const shown = holders.slice(0, 10).map(h => `${h.address} (${h.network}/${h.containerId}/${h.ifname})`).join(', ')
  return holders.length > 10 ? `${holders.length} addresses: ${shown}, ...` : shown
}
