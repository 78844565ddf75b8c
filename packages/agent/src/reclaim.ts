/**
 * Reclaiming the space of deleted Kubernetes nodes. In a DaemonSet every agent's nickname is its
 * node's name, so a peer whose node is gone from the API, and that cannot be reached, will never
 * come back: its ranges are taken over with rmpeer. rmpeer is decided once by a strict majority, so
 * every agent may try at once (Weave needed a lock in a ConfigMap for this; a decided takeover needs
 * none), and a cut-off side of the cluster cannot do it.
 */
import type { PeerLine } from '@weft/protocol'
import type { Logger } from './log.ts'

/**
 * The peers to take over, given the owners the local agent sees, the node names the API lists now,
 * and every node name this agent has seen listed. A peer qualifies when it is unreachable and either
 * - its nickname was once a node and is one no more (the node was deleted), or
 * - another peer with its nickname is reachable (the node's agent came back with a new identity,
 *   its data dir lost: one agent runs per node, so the old one is gone).
 * A nickname never seen as a node is left alone: it may not be a Kubernetes agent at all. A list
 * without this agent's own node is not believed (a truncated answer, or nicknames that are not node
 * names): nothing is taken over on it.
 */
export function peersToReclaim (owners: readonly PeerLine[], nodes: ReadonlySet<string>, seenNodes: ReadonlySet<string>): PeerLine[] {
  const self = owners.find(p => p.local)
  if (self === undefined || !nodes.has(self.nickname)) return []
  const live = new Set(owners.filter(p => p.local || p.reachable).map(p => p.nickname))
  return owners.filter(p => !p.local && !p.reachable &&
    ((seenNodes.has(p.nickname) && !nodes.has(p.nickname)) || live.has(p.nickname)))
}

export interface ReclaimComponents {
  readonly listNodes: () => Promise<Set<string>>
  /** The ring's owners as the local agent sees them (status peers). */
  readonly owners: () => readonly PeerLine[]
  /** Takes a peer over; resolves with the number of addresses this agent inherited. */
  readonly rmpeer: (peer: string) => Promise<string>
  /** Counts a peer this agent took over. */
  readonly reclaimed: () => void
  readonly log: Logger
}

/**
 * Runs a reclaim pass every `intervalMs` until stopped; a failed pass is logged and retried next time.
 * Stopping does not wait for a pass in flight: its rmpeer fails with the agent, and nothing follows it.
 */
export function startReclaimer (c: ReclaimComponents, intervalMs: number): { stop: () => void } {
  const seen = new Set<string>()
  let timer: NodeJS.Timeout | null = null
  let stopped = false

  const pass = async (): Promise<void> => {
    let nodes
    try {
      nodes = await c.listNodes()
    } catch (err) {
      c.log.warn({ err: (err as Error).message }, 'cannot list Kubernetes nodes; reclaim retries later')
      return
    }
    const owners = c.owners()
    const self = owners.find(p => p.local)?.nickname ?? ''
    if (!nodes.has(self)) {
      c.log.warn({ nickname: self, nodes: nodes.size }, 'the Kubernetes node list does not name this agent\'s node (is WEFT_NICKNAME the node name?); reclaiming nothing')
      return
    }
    for (const n of nodes) seen.add(n)
    for (const p of peersToReclaim(owners, nodes, seen)) {
      if (stopped) return
      const why = nodes.has(p.nickname) ? 'its node runs a newer agent' : 'its node was deleted'
      try {
        const takenOver = await c.rmpeer(p.id)
        // 0: another agent is the heir, or this one until every peer has acknowledged the removal.
        if (takenOver === '0') continue
        c.reclaimed()
        c.log.info({ target: p.id, targetNickname: p.nickname, takenOver, why }, 'reclaimed the space of a peer that is gone')
      } catch (err) {
        c.log.info({ target: p.id, targetNickname: p.nickname, why, err: (err as Error).message }, 'cannot reclaim a peer yet; retrying later')
      }
    }
  }
  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(() => { void pass().finally(schedule) }, intervalMs)
  }
  schedule()
  return {
    stop: () => {
      stopped = true
      if (timer !== null) clearTimeout(timer)
    }
  }
}
