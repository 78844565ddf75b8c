/**
 * `kubernetes` init: the ring's one split, decided by one agent, the initialiser, chosen from the
 * Kubernetes Node list that the agent feeds in (`setNodes`). No count to configure, no vote.
 *
 * The rule (README "Init from the Node list"):
 * - Nodes are ordered by creationTimestamp, then name. A peer knows the nodes of its last list, and
 *   every node any peer's hello named, as its own or as its initialiser. The initialiser is the
 *   first of those. Only a peer whose own node is listed and is the initialiser may split.
 * - Every peer without a ring answers a hello with its node and its initialiser; the initialiser
 *   asks (broadcasts) again and again. A hello is remembered until the same peer sends another,
 *   so a peer that named an older initialiser can never become one itself.
 * - The initialiser splits among itself and the reachable peers whose last hello named it. It first
 *   waits, without bound, for every peer that named another initialiser and for the agents of nodes
 *   created within CONCURRENT_MS of its own (their lists may predate its node); then up to `wait`
 *   ticks for the agents of the other listed nodes. Those are younger: their lists, read after their
 *   own node registered, hold the initialiser's node, so none of them can be an initialiser.
 * - Every peer with a ring answers a hello with the ring.
 * Two splits would need two peers that each took their own node for the first; the Node lists of a
 * linearizable API server are nested, and the wait above covers the nodes that registered so close
 * together that their lists may not hold each other.
 */
import type { Core } from './core.ts'
import { claim } from './init.ts'
import { wholeRing } from './ring-sync.ts'
import type { NodeRecord, PeerId } from './types.ts'

/** Nodes created this close to the initialiser's may have read a list without it: they are waited for. */
export const CONCURRENT_MS = 5_000
/** Names shown in a status line before "and N more". */
const SHOWN = 5

export interface Hello {
  readonly node: NodeRecord
  readonly initialiser: NodeRecord | null
}

export interface NodeInitState {
  /** The last Node list fed in; null until the first. */
  view: readonly NodeRecord[] | null
  /** Each peer's last hello, kept while it is away: what it named binds it. */
  readonly hellos: Map<PeerId, Hello>
  /** Tick at which this peer last became the initialiser; null while it is not. */
  since: number | null
}

export const newNodeInitState = (): NodeInitState => ({ view: null, hellos: new Map(), since: null })

export function compareNodes (a: NodeRecord, b: NodeRecord): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

const sameNode = (a: NodeRecord | null | undefined, b: NodeRecord | null | undefined): boolean =>
  a != null && b != null && a.name === b.name && a.created === b.created

/** The first node this peer knows of: its list and everything the hellos named. */
export function initialiserOf (view: readonly NodeRecord[] | null, hellos: ReadonlyMap<PeerId, Hello>): NodeRecord | null {
  let first: NodeRecord | null = null
  const consider = (n: NodeRecord | null): void => { if (n !== null && (first === null || compareNodes(n, first) < 0)) first = n }
  for (const n of view ?? []) consider(n)
  for (const h of hellos.values()) { consider(h.node); consider(h.initialiser) }
  return first
}

export interface NodeInitInput {
  readonly self: PeerId
  /** This peer's node name (its nickname). */
  readonly selfName: string
  readonly view: readonly NodeRecord[] | null
  readonly hellos: ReadonlyMap<PeerId, Hello>
  readonly reachable: ReadonlySet<PeerId>
  /** Ticks since this peer became the initialiser. */
  readonly waited: number
  /** How long the initialiser waits for the agents of younger nodes. */
  readonly wait: number
  /** A planted bug for the simulator: no unbounded wait. */
  readonly skipWait?: boolean
}

export type NodeInitStep =
  | { readonly kind: 'wait', readonly initialiser: boolean, readonly text: string }
  | { readonly kind: 'split', readonly seeds: readonly PeerId[] }

/** What a peer without a ring does now: the whole rule, pure. */
export function nodeInitStep (i: NodeInitInput): NodeInitStep {
  const wait = (text: string, initialiser = false): NodeInitStep => ({ kind: 'wait', initialiser, text })
  if (i.view === null) return wait('awaiting the Kubernetes Node list')
  const own = i.view.find(n => n.name === i.selfName)
  if (own === undefined) return wait(`awaiting this node (${i.selfName}) in the Kubernetes Node list`)
  const first = initialiserOf(i.view, i.hellos)
  if (first === null || !sameNode(first, own)) {
    const name = first?.name ?? '?'
    const answered = [...i.hellos].some(([p, h]) => i.reachable.has(p) && h.node.name === name)
    return wait(`awaiting the ring from the initialiser, node ${name} (the oldest node)` +
      (answered ? '' : `; its agent has not answered: is weft running on ${name}? If it never will, delete the node from the API`))
  }
  const backing = [...i.hellos].filter(([, h]) => sameNode(h.initialiser, own))
  const backed = new Set(backing.map(([, h]) => h.node.name))
  const rivals = [...i.hellos].filter(([, h]) => !sameNode(h.initialiser, own) && h.initialiser !== null).map(([, h]) => h.node.name)
  const others = i.view.filter(n => n.name !== own.name && !backed.has(n.name))
  const close = others.filter(n => n.created - own.created <= CONCURRENT_MS).map(n => n.name)
  const unbound = [...new Set([...rivals, ...close])]
  if (unbound.length > 0 && i.skipWait !== true) {
    return wait(`initialising: waiting for the agents on ${names(unbound)} (created within ${CONCURRENT_MS / 1000} s of this node, or not yet taking it for the initialiser)`, true)
  }
  if (others.length > 0 && i.waited < i.wait) {
    return wait(`initialising: waiting at most ${i.wait - i.waited} ticks for the agents on ${names(others.map(n => n.name))}`, true)
  }
  const seeds = [i.self, ...backing.map(([p]) => p).filter(p => i.reachable.has(p))]
  return { kind: 'split', seeds: [...new Set(seeds)].sort() }
}

function names (list: readonly string[]): string {
  const shown = list.slice(0, SHOWN).join(', ')
  return list.length > SHOWN ? `${shown} and ${list.length - SHOWN} more` : shown
}

// ---- the peer's side: state, messages, ticks ----

const inputOf = (s: Core, n: NodeInitState): NodeInitInput => ({
  self: s.id,
  selfName: s.nickname,
  view: n.view,
  hellos: n.hellos,
  reachable: s.reachable,
  waited: n.since === null ? 0 : s.now - n.since,
  wait: s.t.nodeWait,
  skipWait: s.faults.initialiserSkipsWait === true
})

/** The status line while the ring is empty. */
export const nodeInitText = (s: Core, n: NodeInitState): string => {
  const step = nodeInitStep(inputOf(s, n))
  return step.kind === 'wait' ? step.text : 'initialising'
}

function ownHello (s: Core, n: NodeInitState, reply: boolean): { type: 'init-hello', node: NodeRecord, initialiser: NodeRecord | null, reply: boolean } | null {
  const own = n.view?.find(r => r.name === s.nickname)
  if (own === undefined) return null
  return { type: 'init-hello', node: own, initialiser: initialiserOf(n.view, n.hellos), reply }
}

/** Applies the rule: tracks when this peer became the initialiser, splits when the rule says so. */
export function nodeInitEvaluate (s: Core, n: NodeInitState): void {
  if (s.init.kind !== 'kubernetes' || !s.ring.isEmpty()) return
  const step = nodeInitStep(inputOf(s, n))
  const initialiser = step.kind === 'split' || step.initialiser
  if (!initialiser) { n.since = null; return }
  if (n.since === null) {
    n.since = s.now
    askAll(s, n)
    nodeInitEvaluate(s, n)
    return
  }
  if (step.kind === 'split') claim(s, step.seeds)
}

function askAll (s: Core, n: NodeInitState): void {
  const hello = ownHello(s, n, false)
  if (hello !== null) s.out.send('all', hello)
}

/** Every tick: the initialiser asks again (hellos get lost), and the wait may be over. */
export function nodeInitTick (s: Core, n: NodeInitState): void {
  if (s.init.kind !== 'kubernetes' || !s.ring.isEmpty()) return
  if (n.since !== null && (s.now - n.since) % s.t.grace === 0) askAll(s, n)
  nodeInitEvaluate(s, n)
}

/** The agent's latest Node list. A failed listing is never fed in: the last good one stands. */
export function setNodes (s: Core, n: NodeInitState, nodes: readonly NodeRecord[]): void {
  n.view = [...nodes].sort(compareNodes)
  nodeInitEvaluate(s, n)
}

/** Newly reachable peers hear from the initialiser at once. */
export function nodeInitReachable (s: Core, n: NodeInitState, fresh: readonly PeerId[]): void {
  if (s.init.kind !== 'kubernetes' || !s.ring.isEmpty()) return
  const hello = n.since === null ? null : ownHello(s, n, false)
  if (hello !== null) for (const p of fresh) s.out.send(p, hello)
  nodeInitEvaluate(s, n)
}

export function onHello (s: Core, n: NodeInitState, from: PeerId, m: { readonly node: NodeRecord, readonly initialiser: NodeRecord | null, readonly reply: boolean }): void {
  if (!s.ring.isEmpty()) {
    // Whatever the sender waits for, the answer is this ring.
    s.out.send(from, wholeRing(s))
    return
  }
  n.hellos.set(from, { node: m.node, initialiser: m.initialiser })
  if (!m.reply) {
    const hello = ownHello(s, n, true)
    if (hello !== null) s.out.send(from, hello)
  }
  nodeInitEvaluate(s, n)
}
