/**
 * Simulated peers over the simulated network, each with its simulated disk. The world plays the
 * agent: for every peer it runs the Ready loop exactly as the contract says (persist, then send,
 * then complete, then advance), and it can crash a peer between persist and send. It records every
 * acknowledged allocation, which is what the exclusivity and durability checks hold the peers to.
 */
import { isReserved } from '../src/address.ts'
import type { Universe } from '../src/address.ts'
import { type Peer, createPeer } from '../src/peer.ts'
import type { Faults as PeerFaults, Timeouts } from '../src/config.ts'
import type { Completion, InitMode, Message, NodeRecord, Offset, PeerId, RequestId, RingState } from '../src/types.ts'
import { Disk, podOf } from './disk.ts'
import { type Faults as NetFaults, Network } from './network.ts'
import type { Prng } from './prng.ts'
import { Trace, big, outcome } from './trace.ts'
import { Violation, type Watch, checkConverged, checkExclusive, checkOneRing, isConverged } from './world-checks.ts'

export { Violation }

export type NodeState = 'up' | 'down' | 'dead'

interface Node {
  readonly id: PeerId
  readonly init: InitMode
  disk: Disk
  peer: Peer<string> | null
  state: NodeState
  /** Acknowledged allocations: key -> offset. They must survive any crash. */
  readonly held: Map<string, Offset>
  /** Keys whose release was asked for but not yet acknowledged: after a crash they may be gone. */
  readonly releasing: Set<string>
  /** kubernetes init: the last Node list this agent read; read again at every start. */
  nodes: readonly NodeRecord[] | null
}

type Request =
  | { readonly kind: 'allocate', readonly peer: PeerId, readonly key: string }
  | { readonly kind: 'release', readonly peer: PeerId, readonly key: string }
  | { readonly kind: 'rmpeer' | 'prime', readonly peer: PeerId }

export interface WorldOptions {
  readonly universe: Universe
  readonly rnd: Prng
  readonly net: NetFaults
  readonly timeouts?: Partial<Timeouts>
  readonly faults?: PeerFaults
  /** Chance that a peer crashes right after persisting a batch, before sending anything. */
  readonly crashAfterPersist?: number
  /** Lines of trace kept for a violation report (default 40). */
  readonly traceLines?: number
  /** Check after every event that all rings, live or on disk, come from one split. */
  readonly oneRing?: boolean
  /** Sees every message sent, with the number of peers it goes to (a broadcast goes to every other live one), its sender and its address. */
  readonly meter?: (msg: Message, recipients: number, from: PeerId, to: PeerId | 'all') => void
  /** Planted bug: the peers are given this universe (without the reserved ranges, say) while the checks hold them to `universe`. */
  readonly peerUniverse?: Universe
  /** A schedule's own checks: told of every change of who reaches whom and of every takeover decided. */
  readonly watch?: Watch
}

export class World {
  readonly universe: Universe
  readonly net: Network
  readonly trace: Trace
  private readonly rnd: Prng
  private readonly opts: WorldOptions
  private readonly nodes = new Map<PeerId, Node>()
  private readonly requests = new Map<RequestId, Request>()
  private readonly results = new Map<RequestId, Completion>()
  /** offset -> [peer, key] of every acknowledged, unreleased allocation of a live peer. */
  private readonly owners = new Map<Offset, readonly [PeerId, string]>()
  /** dead peer -> the heir a takeover decided: a second, different decision is a violation. */
  private readonly takeovers = new Map<PeerId, PeerId>()
  /**
   * Peers given space by a peer already removed (one back from its disk, not told yet), or by such a
   * peer in turn: once they hear the cluster they stop as removed, the safe side (README, "Compaction").
   */
  private readonly tainted = new Set<PeerId>()
  private nextId = 1
  /** Whether a peer misses this tick (starved on a busy machine); none does by default. */
  starved: (id: PeerId) => boolean = () => false

  constructor (opts: WorldOptions) {
    this.opts = opts
    this.trace = new Trace(opts.traceLines)
    this.universe = opts.universe
    this.rnd = opts.rnd
    this.net = new Network(opts.rnd, opts.net)
  }

  /** Peers not dead, cached until one is added or dies: broadcasts go to them. */
  private liveCache: PeerId[] | null = null
  private live (): PeerId[] {
    this.liveCache ??= this.ids().filter(id => this.nodes.get(id)!.state !== 'dead')
    return this.liveCache
  }

  ids (state?: NodeState): PeerId[] {
    return [...this.nodes.values()].filter(n => state === undefined || n.state === state).map(n => n.id)
  }

  peer (id: PeerId): Peer<string> {
    const p = this.nodes.get(id)?.peer
    if (p === null || p === undefined) throw new Error(`${id} is not up`)
    return p
  }

  /** Held allocations of a peer, as acknowledged to its clients. */
  held (id: PeerId): ReadonlyMap<string, Offset> { return this.nodes.get(id)?.held ?? new Map() }

  result (id: RequestId): Completion | undefined { return this.results.get(id) }

  /** The heir a takeover of `dead` decided, if any did. */
  decidedHeir (dead: PeerId): PeerId | undefined { return this.takeovers.get(dead) }

  /** The nickname a peer runs with: in kubernetes init, its node's name. */
  static nodeName (id: PeerId): string { return `n-${id}` }

  add (id: PeerId, init: InitMode, nodes: readonly NodeRecord[] | null = null): void {
    this.start(this.node(id, init, nodes))
  }

  /**
   * Many peers at once, each from a disk holding `ring` if given (a cluster that has run for a
   * while). They come up one by one, each seeing every other, and what that sends is delivered
   * before the next: what a peer learns from the ones before it spares it greeting them all again.
   */
  addAll (ids: readonly PeerId[], init: InitMode, ring?: RingState): void {
    const nodes = ids.map(id => this.node(id, init, null))
    for (const n of nodes) {
      if (ring !== undefined) n.disk.apply({ ring, putAllocations: [], deleteAllocations: [] })
      this.start(n, false)
    }
    for (const n of nodes) {
      if (n.state !== 'up') continue
      n.peer!.setReachable(this.reachedBy(n, nodes.filter(m => m.state === 'up')))
      this.pump(n)
      for (let i = 0; i < 1000 && this.deliver(100_000) > 0; i++);
    }
  }

  private node (id: PeerId, init: InitMode, nodes: readonly NodeRecord[] | null): Node {
    const node: Node = { id, init, disk: new Disk(this.universe.cidr), peer: null, state: 'down', held: new Map(), releasing: new Set(), nodes }
    this.nodes.set(id, node)
    this.liveCache = null
    return node
  }

  private start (node: Node, reach = true): void {
    const persisted = node.disk.load()
    node.peer = createPeer<string>({
      id: node.id,
      nickname: World.nodeName(node.id),
      universe: this.opts.peerUniverse ?? this.universe,
      init: node.init,
      random: () => this.rnd.next(),
      ...(persisted !== undefined ? { persisted } : {}),
      ...(this.opts.timeouts !== undefined ? { timeouts: this.opts.timeouts } : {}),
      ...(this.opts.faults !== undefined ? { faults: this.opts.faults } : {})
    })
    node.state = 'up'
    // Durability: everything acknowledged before the crash is back, with the payload its request carried.
    const restored = node.peer.allocations()
    for (const [key, o] of node.held) {
      const r = restored.get(key)
      if (r?.offset === o && r.payload !== podOf(key)) throw new Violation(`durability: ${node.id} restored ${key} with the payload "${r.payload}"`)
      if (r?.offset === o) continue
      if (!restored.has(key) && node.releasing.has(key)) { this.forget(node, key); continue }
      throw new Violation(`durability: ${node.id} lost acknowledged allocation ${key} at ${o} over a restart`)
    }
    node.releasing.clear()
    this.trace.add(`start ${node.id}${persisted !== undefined ? ' (restored)' : ''}`)
    if (node.nodes !== null) node.peer.setNodes(node.nodes)
    if (reach) this.reachOf(node)
  }

  /** An agent read the Node list: `nodes` is what it got. */
  setNodes (id: PeerId, nodes: readonly NodeRecord[]): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.state === 'dead') return
    node.nodes = nodes
    if (node.peer === null) return
    this.trace.add(`nodes ${id} [${nodes.map(n => `${n.name}@${n.created}`).join(' ')}]`)
    node.peer.setNodes(nodes)
    this.pump(node)
  }

  crash (id: PeerId): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.state !== 'up') return
    node.peer = null
    node.state = 'down'
    this.net.dropFor(id)
    this.trace.add(`crash ${id}`)
    this.reachOf(node)
  }

  /** `nodes`: the Node list the agent reads as it starts again (kubernetes init). */
  restart (id: PeerId, nodes?: readonly NodeRecord[]): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.state !== 'down') return
    if (nodes !== undefined) node.nodes = nodes
    this.start(node)
    this.pump(node)
  }

  /** A copy of a peer's disk, to bring it back from later (as from a stale backup). */
  copyDisk (id: PeerId): Disk {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`no peer ${id}`)
    return node.disk.copy()
  }

  /**
   * Crashes a peer and starts it from an old copy of its disk: an operator's mistake the ring must
   * survive without diverging. What it acknowledged since the copy no longer counts as held.
   */
  restoreStale (id: PeerId, disk: Disk): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.state === 'dead') return
    this.crash(id)
    node.disk = disk.copy()
    const kept = new Map(disk.load()?.allocations.map(a => [a.key, a.offset]) ?? [])
    for (const [key, o] of [...node.held]) if (kept.get(key) !== o) this.forget(node, key)
    this.trace.add(`restore ${id} from a stale disk`)
    this.restart(id)
  }

  /**
   * A dead peer's node comes back with `disk` (its own, from before it died): a machine restored that
   * should have stayed gone. Its pods are gone, but its disk still lists their addresses.
   */
  revive (id: PeerId, disk: Disk): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.state !== 'dead') return
    node.disk = disk.copy()
    this.liveCache = null
    this.trace.add(`revive ${id} from its disk`)
    this.start(node)
    this.pump(node)
  }

  /** Permanent death: the node and its pods are gone for good; its addresses no longer count as held. */
  kill (id: PeerId): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.state === 'dead') return
    node.peer = null
    node.state = 'dead'
    this.liveCache = null
    this.net.dropFor(id)
    for (const [, o] of node.held) this.owners.delete(o)
    node.held.clear()
    this.trace.add(`kill ${id}`)
    this.reachOf(node)
  }

  partition (peers: readonly PeerId[]): void {
    this.net.partition(peers, 1)
    this.trace.add(`partition [${peers.join(' ')}]`)
    this.updateReachability()
  }

  heal (): void {
    this.net.heal()
    this.trace.add('heal')
    this.updateReachability()
  }

  /** Every up peer learns which peers it can reach now. */
  updateReachability (): void {
    const up = this.upNodes()
    for (const n of up) n.peer!.setReachable(this.reachedBy(n, up))
    this.opts.watch?.reached()
    for (const n of up) this.pump(n)
  }

  /**
   * `node` just came up or went down, and nothing else changed: each up peer connected to it hears
   * of that one peer, and `node`, if up, learns everyone it reaches. The same as updateReachability
   * while every up peer has been told whom it reaches, in O(peers) instead of O(peers²).
   */
  private reachOf (node: Node): void {
    const up = this.upNodes()
    for (const m of up) if (m !== node && this.net.connected(m.id, node.id)) m.peer!.reachChanged(node.id, node.state === 'up')
    if (node.state === 'up') node.peer!.setReachable(this.reachedBy(node, up))
    this.opts.watch?.reached()
    for (const n of up) this.pump(n)
  }

  private upNodes (): Node[] { return [...this.nodes.values()].filter(n => n.state === 'up') }

  private reachedBy (n: Node, up: readonly Node[]): PeerId[] {
    return up.filter(m => m !== n && this.net.connected(n.id, m.id)).map(m => m.id)
  }

  private request (peer: PeerId, r: Request, call: (p: Peer<string>, id: RequestId) => void): RequestId {
    const node = this.nodes.get(peer)
    const id = this.nextId++
    if (node?.peer === null || node === undefined) return id
    this.requests.set(id, r)
    call(node.peer, id)
    this.pump(node)
    return id
  }

  allocate (peer: PeerId, key: string, address?: Offset): RequestId {
    this.trace.add(`allocate ${peer} ${key}${address !== undefined ? ` @${address}` : ''}`)
    return this.request(peer, { kind: 'allocate', peer, key }, (p, id) => p.allocate(id, key, podOf(key), address))
  }

  release (peer: PeerId, key: string): RequestId {
    this.trace.add(`release ${peer} ${key}`)
    this.nodes.get(peer)?.releasing.add(key)
    return this.request(peer, { kind: 'release', peer, key }, (p, id) => p.release(id, key))
  }

  rmpeer (peer: PeerId, target: PeerId, force = false): RequestId {
    this.trace.add(`rmpeer ${peer} ${target}${force ? ' --force' : ''}`)
    return this.request(peer, { kind: 'rmpeer', peer }, (p, id) => p.rmpeer(id, target, force))
  }

  prime (peer: PeerId): RequestId {
    return this.request(peer, { kind: 'prime', peer }, (p, id) => p.prime(id))
  }

  tick (): void {
    this.net.tick()
    for (const n of this.nodes.values()) {
      if (n.state !== 'up' || this.starved(n.id)) continue
      n.peer!.tick()
      this.pump(n)
    }
  }

  /** `maxTicks` rounds of: deliver up to `perTick` packets, then tick every peer. Bounded by both. */
  settle (maxTicks: number, perTick = 10_000): void {
    for (let t = 0; t < maxTicks; t++) {
      this.deliver(perTick)
      this.tick()
    }
    this.deliver(perTick)
  }

  /** Delivers up to `count` packets; returns how many were delivered. */
  deliver (count: number): number {
    let done = 0
    for (; done < count; done++) {
      const p = this.net.take()
      if (p === null) break
      const node = this.nodes.get(p.to)
      if (node === undefined || node.state !== 'up') continue
      node.peer!.step(p.from, p.msg)
      this.pump(node)
    }
    return done
  }

  /** The agent's Ready loop for one peer. */
  private pump (node: Node): void {
    while (node.state === 'up' && node.peer!.hasReady()) {
      const rd = node.peer!.ready()
      if (rd.persist !== null) node.disk.apply(rd.persist)
      // A decision is made once persisted: noted even if the peer crashes before it says so.
      for (const e of rd.events) {
        if (e.kind === 'takeover') this.noteTakeover(node.id, e.peer, e.heir)
        if (e.kind === 'space-given' && (this.takeovers.has(node.id) || this.tainted.has(node.id))) this.tainted.add(e.to)
      }
      if (rd.persist !== null && this.rnd.chance(this.opts.crashAfterPersist ?? 0)) {
        this.trace.add(`${node.id} crashes between persist and send`)
        this.crash(node.id)
        return
      }
      for (const m of rd.messages) {
        const targets = m.to === 'all' ? this.live().filter(id => id !== node.id) : [m.to]
        this.opts.meter?.(m.msg, targets.length, node.id, m.to)
        for (const to of targets) this.net.send({ from: node.id, to, msg: m.msg })
      }
      for (const c of rd.completions) this.complete(node, c)
      for (const e of rd.events) {
        if (e.kind !== 'space-given' && e.kind !== 'space-received') this.trace.add(`${node.id} event ${JSON.stringify(e, big)}`)
      }
      node.peer!.advance()
    }
  }

  private complete (node: Node, c: Completion): void {
    this.results.set(c.id, c)
    const r = this.requests.get(c.id)
    this.requests.delete(c.id)
    if (r === undefined) return
    this.trace.add(`${node.id} done ${r.kind} #${c.id} ${c.ok ? `ok ${outcome(c)}` : `${c.error.code}: ${c.error.message}`}`)
    if (!c.ok) return
    if (r.kind === 'allocate' && c.kind === 'allocate') {
      // Network, broadcast and the universe's reserved ranges (a pool's) never go to anyone.
      if (isReserved(this.universe, c.offset)) throw new Violation(`reserved: offset ${c.offset} acknowledged to ${node.id}/${r.key}`)
      const other = this.owners.get(c.offset)
      if (other !== undefined && (other[0] !== node.id || other[1] !== r.key)) {
        throw new Violation(`exclusivity: offset ${c.offset} acknowledged to ${node.id}/${r.key} while ${other[0]}/${other[1]} holds it`)
      }
      this.owners.set(c.offset, [node.id, r.key])
      node.held.set(r.key, c.offset)
    } else if (r.kind === 'release') this.forget(node, r.key)
  }

  private noteTakeover (by: PeerId, dead: PeerId, heir: PeerId): void {
    const earlier = this.takeovers.get(dead)
    if (earlier !== undefined && earlier !== heir) throw new Violation(`takeover twice: ${dead} was taken over by ${earlier} and by ${heir}`)
    this.takeovers.set(dead, heir)
    this.opts.watch?.decided(by, dead, heir)
  }

  /** A released allocation no longer counts as held. */
  private forget (node: Node, key: string): void {
    const o = node.held.get(key)
    if (o !== undefined && this.owners.get(o)?.[0] === node.id) this.owners.delete(o)
    node.held.delete(key)
    node.releasing.delete(key)
  }

  /**
   * No address held by two live peers (down peers count with what is on their disk); with `full`,
   * also every up peer's own invariants (world-checks.ts).
   */
  check (full = false): void {
    if (this.opts.oneRing === true) checkOneRing(this.nodes.values())
    checkExclusive(this.nodes.values(), full)
    // A peer stops as removed (its tombstone, or its record below the floor) only if a takeover removed
    // it, or it took space from a removed peer.
    for (const n of this.nodes.values()) {
      if (n.state === 'up' && n.peer!.removedBy() !== null && !this.takeovers.has(n.id) && !this.tainted.has(n.id)) throw new Violation(`removal: ${n.id} stopped as removed, but no takeover of it was decided`)
    }
  }

  /** Every ring, live or on a down peer's disk, was split by one decision. */
  checkOneRing (): void { checkOneRing(this.nodes.values()) }

  /** Up peers whose ring is still empty. */
  ringless (): PeerId[] {
    return this.ids('up').filter(id => this.peer(id).ring().seeds.length === 0)
  }

  /** Whether some up peer's ring has a floor: a removal was compacted away. */
  floorRaised (): boolean { return this.ids('up').some(id => this.peer(id).ring().floor > 0) }

  /** Rings of all up, not removed peers; throws unless they are identical. */
  checkConverged (): void { checkConverged(this.nodes.values()) }
  /** Whether every live peer holds the same ring (checkConverged's answer, without throwing). */
  converged (): boolean { return isConverged(this.nodes.values()) }
}
