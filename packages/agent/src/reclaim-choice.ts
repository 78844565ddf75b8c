/**
 * Which peers of deleted Kubernetes nodes to take over: pure functions of what the local agent sees
 * (the ring's owners) and what the node listings said. In a DaemonSet every agent's nickname is its
 * node's name, so a peer whose node is gone from the API, and that cannot be reached, never comes
 * back.
 */
import type { PeerSummary } from '@weft/ring'

/** Believed listings in a row that must leave a node out before it counts as deleted. */
export const MISSING_LISTINGS = 2

/** What the node listings said so far. */
export interface NodeHistory {
  /** Every node name ever listed (kept across restarts). */
  readonly seen: ReadonlySet<string>
  /** Per seen node, how many believed listings in a row left it out. */
  readonly missing: ReadonlyMap<string, number>
}

export function newHistory (seen: Iterable<string> = []): NodeHistory {
  return { seen: new Set(seen), missing: new Map() }
}

/**
 * A listing that leaves out this agent's own node is not believed: a truncated answer, or nicknames
 * that are not node names. Nothing is learnt from it and nothing taken over on it.
 */
export function believable (owners: readonly PeerSummary[], nodes: ReadonlySet<string>): boolean {
  const self = owners.find(p => p.self)
  return self !== undefined && nodes.has(self.nickname)
}

/** The history after one believed listing. */
export function observe (h: NodeHistory, nodes: ReadonlySet<string>): NodeHistory {
  const seen = new Set([...h.seen, ...nodes])
  const missing = new Map<string, number>()
  for (const n of seen) if (!nodes.has(n)) missing.set(n, (h.missing.get(n) ?? 0) + 1)
  return { seen, missing }
}

/**
 * The peers to take over after a believed listing `nodes` (already observed into `h`). A peer
 * qualifies when it is unreachable and either
 * - its nickname was once a node and the last MISSING_LISTINGS listings left it out (deleted), or
 * - its nickname is a listed node whose agent, another peer, is reachable or this one (the agent
 *   came back with a new identity, its data dir lost: one agent runs per node, so the old one is gone).
 * A nickname never seen as a node is left alone: it may not be a Kubernetes agent at all.
 */
export function peersToReclaim (owners: readonly PeerSummary[], nodes: ReadonlySet<string>, h: NodeHistory): PeerSummary[] {
  if (!believable(owners, nodes)) return []
  const live = new Set(owners.filter(p => p.self || p.reachable).map(p => p.nickname))
  return owners.filter(p => !p.self && !p.reachable && p.nickname !== '' &&
    ((h.missing.get(p.nickname) ?? 0) >= MISSING_LISTINGS || (nodes.has(p.nickname) && live.has(p.nickname))))
}
