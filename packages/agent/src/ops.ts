/**
 * What each socket route does: core requests go through each pool's Ready loop (so they are answered
 * only after their batch is durable); reads come from the store's view of what is durable.
 */
import { addressAt, asPeerId } from '@weft/ring'
import type { CompletionOf, CoreError, Offset, PeerId, RequestKind, Success } from '@weft/ring'
import type {
  AllocateResponse, AllocationInfo, AllocationsResponse, CheckResponse, GcResponse, PoolAddress, PrimeResponse, ReleaseResponse,
  ReportResponse, RetirePoolRequest, RetirePoolResponse, RmpeerRequest, RmpeerResponse, StatusResponse
} from '@weft/protocol'
import { apiErrorOf } from './api.ts'
import type { AgentOps } from './api.ts'
import { GATEWAY_CONTAINER, gatewayAttachment, gatewayKey } from './gateway.ts'
import { ApiError } from '@weft/protocol'
import type { Pool, Pools } from './pool.ts'
import type { Retirement } from './retire.ts'
import { allocationInfo, reportBody } from './status.ts'
import type { AttachmentMeta } from './store.ts'
import type { CheckedAllocate, CheckedAttachment, CheckedGc } from './validate.ts'

export interface OpsDeps {
  readonly pools: Pools
  readonly retirement: Retirement
  readonly requestTimeoutMs: number
  readonly clock: () => number
  readonly status: () => StatusResponse
}

export class Ops implements AgentOps {
  readonly pools: Pools
  readonly #d: OpsDeps

  constructor (deps: OpsDeps) {
    this.pools = deps.pools
    this.#d = deps
  }

  /**
   * One address from each pool asked for, all or nothing. One pool without a gateway (the usual
   * case) is the driver's promise and one step after it, not an async function: a suspended async
   * frame holds every local and was the largest thing allocate's own code made per request.
   */
  allocate (req: CheckedAllocate, withinMs?: number): Promise<AllocateResponse> {
    // The metadata travels with the request through each pool's core into the batch that stores the
    // allocation, even when that batch comes after this request's deadline. Kept for as long as the
    // allocation: built in one literal, every field present, so every record has one shape and no
    // spread copies are made on the way.
    const meta: AttachmentMeta = { network: req.network, containerId: req.containerId, ifname: req.ifname, podNamespace: req.podNamespace, podName: req.podName, allocatedAt: this.#d.clock() }
    const only = req.pools.length === 1 ? req.pools[0]! : null
    if (only === null || req.gateway) return this.#allocateAll(req, meta, withinMs)
    try {
      const pool = this.pools.get(only.pool)
      return this.#allocation(pool, req.key, meta, only.offset, withinMs).then(c => ({ addresses: [answer(pool, ok(c).offset)] }))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Several pools, or a gateway too. */
  async #allocateAll (req: CheckedAllocate, meta: AttachmentMeta, withinMs?: number): Promise<AllocateResponse> {
    const { key, pools } = req
    const gatewayOf = req.gateway ? req.network : null
    // One pool has nothing to roll back: no settling of a list of promises.
    if (pools.length === 1) return { addresses: [await this.#allocateIn(this.pools.get(pools[0]!.pool), key, meta, pools[0]!.offset, gatewayOf, withinMs)] }
    const results = await Promise.allSettled(pools.map(async ({ pool, offset }) =>
      await this.#allocateIn(this.pools.get(pool), key, meta, offset, gatewayOf, withinMs)))
    const failed = results.find(r => r.status === 'rejected')
    if (failed === undefined) return { addresses: results.map(r => (r as PromiseFulfilledResult<PoolAddress>).value) }
    // All or nothing: what the other pools gave is released before the error is answered.
    await Promise.all(pools.map(async ({ pool }, i) => {
      if (results[i]?.status === 'fulfilled') await this.#request(this.pools.get(pool), 'release', id => this.pools.get(pool).peer.release(id, key), 'rollback release', withinMs)
    }))
    throw failed.reason
  }

  async #allocateIn (pool: Pool, key: string, meta: AttachmentMeta, offset: Offset | undefined, gatewayOf: string | null, withinMs?: number): Promise<PoolAddress> {
    const allocated = this.#allocation(pool, key, meta, offset, withinMs)
    if (gatewayOf === null) return answer(pool, ok(await allocated).offset)
    // The gateway's first reservation shares the pod's batch; after that it is read from the store.
    const [c, gateway] = await Promise.all([allocated.then(ok), this.#gateway(pool, gatewayOf, withinMs)])
    return { ...answer(pool, c.offset), gateway }
  }

  /** The core's allocation in `pool`, through its Ready loop; refused at once by a draining pool. */
  #allocation (pool: Pool, key: string, meta: AttachmentMeta, offset: Offset | undefined, withinMs?: number): Promise<CompletionOf<'allocate'>> {
    // A draining pool still answers what an attachment holds (a repeated ADD), nothing new.
    if (pool.draining && !pool.allocations.has(key)) throw new ApiError(409, 'pool-draining', `pool ${pool.name} is draining: it takes no new allocations`)
    return this.#request(pool, 'allocate', id => pool.peer.allocate(id, key, meta, offset), 'allocate', withinMs, () => stalled(pool, offset))
  }

  /** This node's gateway of `network` in `pool`, reserved from the agent's own space the first time. */
  async #gateway (pool: Pool, network: string, withinMs?: number): Promise<string> {
    const key = gatewayKey(network)
    const held = pool.allocations.get(key)
    if (held !== undefined) return addressAt(pool.universe, held.offset)
    const meta: AttachmentMeta = { ...gatewayAttachment(network), allocatedAt: this.#d.clock() }
    const c = ok(await this.#request(pool, 'allocate', id => pool.peer.allocate(id, key, meta), 'gateway reservation', withinMs, () => stalled(pool, undefined)))
    return addressAt(pool.universe, c.offset)
  }

  /** Frees the attachment's address in every pool. */
  async release (a: CheckedAttachment, withinMs?: number): Promise<ReleaseResponse> {
    const released = await Promise.all(this.pools.all.map(async pool => {
      const c = ok(await this.#request(pool, 'release', id => pool.peer.release(id, a.key), 'release', withinMs))
      return c.offset === null ? [] : [addressAt(pool.universe, c.offset)]
    }))
    return { released: released.flat() }
  }

  check (a: CheckedAttachment): CheckResponse {
    const addresses = this.pools.all.flatMap(pool => {
      const held = pool.allocations.get(a.key)
      if (held === undefined) return []
      const gateway = pool.allocations.get(gatewayKey(a.network))
      return [{ ...answer(pool, held.offset), ...(gateway === undefined ? {} : { gateway: addressAt(pool.universe, gateway.offset) }) }]
    })
    if (addresses.length === 0) throw new ApiError(404, 'unknown-attachment', `no allocation for container ${a.containerId} interface ${a.ifname} on network ${a.network}`)
    return { addresses }
  }

  /** Releases the named network's allocations that are not listed, in every pool; no other network's. */
  async gc ({ network, valid }: CheckedGc, withinMs?: number): Promise<GcResponse> {
    const keep = new Set(valid.map(a => a.key))
    const released = await Promise.all(this.pools.all.map(async pool => {
      // Gateways belong to the node, not to a container: GC keeps them.
      const stale = [...pool.allocations.entries()].filter(([key, { payload: m }]) => m.network === network && !keep.has(key) && m.containerId !== GATEWAY_CONTAINER)
      return await Promise.all(stale.map(async ([key, held]) => {
        ok(await this.#request(pool, 'release', id => pool.peer.release(id, key), 'gc release', withinMs))
        return allocationInfo(pool.name, pool.universe, held)
      }))
    }))
    return { released: released.flat() }
  }

  allocations (): AllocationsResponse {
    return { allocations: allAllocations(this.pools.all) }
  }

  status (): StatusResponse {
    return this.#d.status()
  }

  report (): ReportResponse {
    const first = this.pools.get(this.pools.defaults[0] ?? '')
    return reportBody(this.#d.status(), first.universe, first.peer.ring(), allAllocations(this.pools.all))
  }

  /** Takes over the peer's ranges in every pool whose ring knows it. */
  async rmpeer ({ peer: name, force }: Required<RmpeerRequest>): Promise<RmpeerResponse> {
    const target = this.#resolvePeer(name)
    const pools = this.pools.all.filter(p => p.peer.ring().members.some(m => m.peer === target.peer))
    const takenOver = await Promise.all(pools.map(async pool => await takeOver({ ...pool, requestTimeoutMs: this.#d.requestTimeoutMs }, asPeerId(target.peer), force)))
    return { peer: target.peer, nickname: target.nickname, takenOver: takenOver.reduce((a, b) => a + b, 0n).toString() }
  }

  async retirePool ({ pool }: RetirePoolRequest): Promise<RetirePoolResponse> {
    return await this.#d.retirement.retire(pool)
  }

  async prime (): Promise<PrimeResponse> {
    await Promise.all(this.pools.all.map(async pool => ok(await this.#request(pool, 'prime', id => pool.peer.prime(id), 'prime'))))
    return this.#d.status()
  }

  /**
   * A peer id or a nickname, resolved against every ring's members, or an id against the removals
   * (nickname unknown then); an ambiguous nickname is refused.
   */
  #resolvePeer (name: string): { peer: string, nickname: string } {
    const members = new Map(this.pools.all.flatMap(p => p.peer.ring().members.map(m => [m.peer, m] as const)))
    const byId = members.get(asPeerId(name))
    if (byId !== undefined) return { peer: byId.peer, nickname: byId.nickname }
    const byNick = [...members.values()].filter(m => m.nickname === name)
    if (byNick.length > 1) {
      throw new ApiError(400, 'bad-request', `peer: nickname "${name}" names ${byNick.length} peers (${byNick.map(m => m.peer).join(', ')}); give the peer id`)
    }
    const m = byNick[0]
    if (m !== undefined) return { peer: m.peer, nickname: m.nickname }
    // A completed removal drops the peer's record, nickname and all; its id stays in the removals.
    if (this.pools.all.some(p => p.peer.ring().removed.some(x => x.peer === name))) return { peer: name, nickname: '' }
    throw new ApiError(404, 'unknown-peer', `peer: "${name}" is neither the id nor the nickname of a known peer`)
  }

  /** The driver's own promise, not one more wrapped around it: this is on every request's path. */
  #request<K extends RequestKind> (pool: Pool, kind: K, start: (id: number) => void, what: string, withinMs = Infinity, stalled?: () => CoreError | null): Promise<CompletionOf<K>> {
    const label = this.pools.size > 1 ? `${what} in pool ${pool.name}` : what
    return pool.driver.request(kind, start, Math.min(this.#d.requestTimeoutMs, withinMs), label, stalled)
  }
}

function answer (pool: Pool, offset: Offset): PoolAddress {
  return { pool: pool.name, address: addressAt(pool.universe, offset), prefixLength: pool.universe.prefixLength, range: pool.universe.cidr }
}

/** Every pool's allocations, sorted by attachment (network, container, interface), then by pool order. */
function allAllocations (pools: readonly Pool[]): AllocationInfo[] {
  return pools
    .flatMap((pool, order) => [...pool.allocations.entries()].map(([key, a]) => ({ key, order, info: allocationInfo(pool.name, pool.universe, a) })))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.order - b.order))
    .map(a => a.info)
}

/**
 * Why an allocation is still waiting when its time is up, in the core's words; null when the core
 * has nothing against it (a ready peer with free addresses: the commit itself was slow).
 */
function stalled (pool: Pool, offset: Offset | undefined): CoreError | null {
  const { code } = pool.peer.status()
  return offset === undefined && (code === 'ready' || code === 'idle') ? null : pool.peer.lateError(offset)
}

/** The core's rmpeer through the Ready loop: how many addresses this peer inherited (0 when another is the heir). */
export async function takeOver (d: Pick<Pool, 'driver' | 'peer'> & { requestTimeoutMs: number }, target: PeerId, force: boolean): Promise<bigint> {
  const c = ok(await d.driver.request('rmpeer', id => d.peer.rmpeer(id, target, force), d.requestTimeoutMs, 'rmpeer'))
  return c.takenOver
}

function ok<K extends RequestKind> (c: CompletionOf<K>): Success<K> {
  if (!c.ok) throw apiErrorOf(c.error)
  return c
}
