/**
 * What each socket route does: core requests go through the Ready loop (so they are answered only
 * after their batch is durable); reads come from the store's view of what is durable.
 */
import { addressAt, asPeerId } from '@weft/ring'
import type { CompletionOf, CoreError, Offset, Peer, PeerId, RequestKind, Success, Universe } from '@weft/ring'
import type {
  AllocateResponse, AllocationsResponse, CheckResponse, GcResponse, PrimeResponse, ReleaseResponse, ReportResponse,
  RmpeerRequest, RmpeerResponse, StatusResponse
} from '@weft/protocol'
import { apiErrorOf } from './api.ts'
import type { AgentOps } from './api.ts'
import type { Driver } from './driver.ts'
import { GATEWAY_CONTAINER, gatewayAttachment, gatewayKey } from './gateway.ts'
import { ApiError } from '@weft/protocol'
import type { AttachmentMeta, Store } from './store.ts'
import { allocationInfo, allocationInfos, reportBody } from './status.ts'
import type { CheckedAllocate, CheckedAttachment, CheckedGc } from './validate.ts'

export interface OpsDeps {
  readonly universe: Universe
  readonly peer: Peer<AttachmentMeta>
  readonly driver: Driver<AttachmentMeta>
  readonly store: Store
  readonly requestTimeoutMs: number
  readonly clock: () => number
  readonly status: () => StatusResponse
}

export class Ops implements AgentOps {
  readonly universe: Universe
  readonly #d: OpsDeps

  constructor (deps: OpsDeps) {
    this.universe = deps.universe
    this.#d = deps
  }

  async allocate (req: CheckedAllocate, withinMs?: number): Promise<AllocateResponse> {
    const { key, offset, gateway: withGateway, ...attachment } = req
    // The metadata travels with the request through the core into the batch that stores the allocation,
    // even when that batch comes after this request's deadline.
    const meta: AttachmentMeta = { ...attachment, allocatedAt: this.#d.clock() }
    // The gateway's first reservation shares the pod's batch; after that it is read from the store.
    const [c, gateway] = await Promise.all([
      this.#request('allocate', id => this.#d.peer.allocate(id, key, meta, offset), 'allocate', withinMs, () => this.#stalled(offset)).then(ok),
      withGateway ? this.#gateway(attachment.network, withinMs) : undefined
    ])
    return { ...this.#answer(c.offset), ...(gateway === undefined ? {} : { gateway }) }
  }

  /** This node's gateway of `network`, reserved from the agent's own space the first time. */
  async #gateway (network: string, withinMs?: number): Promise<string> {
    const key = gatewayKey(network)
    const held = this.#d.store.allocations.get(key)
    if (held !== undefined) return addressAt(this.universe, held.offset)
    const meta: AttachmentMeta = { ...gatewayAttachment(network), allocatedAt: this.#d.clock() }
    const c = ok(await this.#request('allocate', id => this.#d.peer.allocate(id, key, meta), 'gateway reservation', withinMs, () => this.#stalled(undefined)))
    return addressAt(this.universe, c.offset)
  }

  async release (a: CheckedAttachment, withinMs?: number): Promise<ReleaseResponse> {
    const c = ok(await this.#request('release', id => this.#d.peer.release(id, a.key), 'release', withinMs))
    return { released: c.offset === null ? null : addressAt(this.universe, c.offset) }
  }

  check (a: CheckedAttachment): CheckResponse {
    const held = this.#d.store.allocations.get(a.key)
    if (held === undefined) throw new ApiError(404, 'unknown-attachment', `no allocation for container ${a.containerId} interface ${a.ifname} on network ${a.network}`)
    const gateway = this.#d.store.allocations.get(gatewayKey(a.network))
    return { ...this.#answer(held.offset), ...(gateway === undefined ? {} : { gateway: addressAt(this.universe, gateway.offset) }) }
  }

  /** Releases the named network's allocations that are not listed; no other network's. */
  async gc ({ network, valid }: CheckedGc, withinMs?: number): Promise<GcResponse> {
    const keep = new Set(valid.map(a => a.key))
    // Gateways belong to the node, not to a container: GC keeps them.
    const stale = [...this.#d.store.allocations.entries()].filter(([key, { payload: m }]) => m.network === network && !keep.has(key) && m.containerId !== GATEWAY_CONTAINER)
    const released = await Promise.all(stale.map(async ([key, held]) => {
      ok(await this.#request('release', id => this.#d.peer.release(id, key), 'gc release', withinMs))
      return allocationInfo(this.universe, held)
    }))
    return { released }
  }

  allocations (): AllocationsResponse {
    return { allocations: allocationInfos(this.universe, this.#d.store.allocations) }
  }

  status (): StatusResponse {
    return this.#d.status()
  }

  report (): ReportResponse {
    return reportBody(this.#d.status(), this.universe, this.#d.peer.ring(), allocationInfos(this.universe, this.#d.store.allocations))
  }

  async rmpeer ({ peer: name, force }: Required<RmpeerRequest>): Promise<RmpeerResponse> {
    const target = this.#resolvePeer(name)
    const takenOver = await takeOver(this.#d, asPeerId(target.peer), force)
    return { peer: target.peer, nickname: target.nickname, takenOver: takenOver.toString() }
  }

  async prime (): Promise<PrimeResponse> {
    ok(await this.#request('prime', id => this.#d.peer.prime(id), 'prime'))
    return this.#d.status()
  }

  /** A peer id or a nickname, resolved against the ring's members; an ambiguous nickname is refused. */
  #resolvePeer (name: string): { peer: string, nickname: string } {
    const members = this.#d.peer.ring().members
    const byId = members.find(m => m.peer === name)
    if (byId !== undefined) return { peer: byId.peer, nickname: byId.nickname }
    const byNick = members.filter(m => m.nickname === name)
    if (byNick.length > 1) {
      throw new ApiError(400, 'bad-request', `peer: nickname "${name}" names ${byNick.length} peers (${byNick.map(m => m.peer).join(', ')}); give the peer id`)
    }
    const m = byNick[0]
    if (m === undefined) throw new ApiError(404, 'unknown-peer', `peer: "${name}" is neither the id nor the nickname of a known peer`)
    return { peer: m.peer, nickname: m.nickname }
  }

  #answer (offset: bigint): AllocateResponse {
    return { address: addressAt(this.universe, offset), prefixLength: this.universe.prefixLength, range: this.universe.cidr }
  }

  async #request<K extends RequestKind> (kind: K, start: (id: number) => void, what: string, withinMs = Infinity, stalled?: () => CoreError | null): Promise<CompletionOf<K>> {
    return await this.#d.driver.request(kind, start, Math.min(this.#d.requestTimeoutMs, withinMs), what, stalled)
  }

  /**
   * Why an allocation is still waiting when its time is up, in the core's words; null when the core
   * has nothing against it (a ready peer with free addresses: the commit itself was slow).
   */
  #stalled (offset: Offset | undefined): CoreError | null {
    const { code } = this.#d.peer.status()
    return offset === undefined && (code === 'ready' || code === 'idle') ? null : this.#d.peer.lateError(offset)
  }
}

/** The core's rmpeer through the Ready loop: how many addresses this peer inherited (0 when another is the heir). */
export async function takeOver (d: Pick<OpsDeps, 'driver' | 'peer' | 'requestTimeoutMs'>, target: PeerId, force: boolean): Promise<bigint> {
  const c = ok(await d.driver.request('rmpeer', id => d.peer.rmpeer(id, target, force), d.requestTimeoutMs, 'rmpeer'))
  return c.takenOver
}

function ok<K extends RequestKind> (c: CompletionOf<K>): Success<K> {
  if (!c.ok) throw apiErrorOf(c.error)
  return c
}
