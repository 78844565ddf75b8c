/**
 * The reclaim passes: on each Node listing, take over the peers of deleted nodes (reclaim-choice.ts) with
 * rmpeer. rmpeer is decided once by a strict majority, and refused while any voter can reach the
 * target, so every agent may try at once (Weave needed a lock in a ConfigMap for this) and a
 * cut-off side of the cluster cannot do it.
 */
import type { PeerId, PeerSummary } from '@weft/ring'
import type { Logger } from './log.ts'
import { believable, newHistory, observe, peersToReclaim } from './reclaim-choice.ts'
import type { NodeHistory } from './reclaim-choice.ts'

export interface ReclaimComponents {
  /** The ring's owners as the local core sees them. */
  readonly owners: () => readonly PeerSummary[]
  /** Takes a peer over (the core's rmpeer); resolves with the number of addresses this agent inherited. */
  readonly rmpeer: (peer: PeerId) => Promise<bigint>
  /** Node names seen before this start, and where to keep them when more are seen. */
  readonly seen: readonly string[]
  readonly saveSeen: (names: readonly string[]) => Promise<void>
  /** Counts a peer this agent took over. */
  readonly reclaimed: () => void
  readonly log: Logger
}

export interface Reclaimer {
  /** A full listing's node names (node-source.ts): a pass runs on it, or on the latest after the one running. */
  readonly nodes: (names: ReadonlySet<string>) => void
  readonly stop: () => void
}

/**
 * Runs a pass for every listing it is given, never two at once (a pass may wait on rmpeer; listings
 * that arrive meanwhile are folded into the latest). A failed pass is logged and the next listing
 * tries again. Once stopped, an rmpeer in flight fails with the agent, and nothing follows it.
 */
export function startReclaimer (c: ReclaimComponents): Reclaimer {
  let history: NodeHistory = newHistory(c.seen)
  let warned = false
  let stopped = false
  let running = false
  let next: ReadonlySet<string> | null = null

  const pass = async (nodes: ReadonlySet<string>): Promise<void> => {
    const owners = c.owners()
    if (!believable(owners, nodes)) {
      if (!warned) c.log.warn({ event: 'own-node-unlisted', nickname: owners.find(p => p.self)?.nickname, nodes: nodes.size }, 'the Kubernetes node list leaves out this agent\'s node (is WEFT_NICKNAME the node name?); reclaiming nothing')
      warned = true
      return
    }
    warned = false
    const before = history.seen.size
    history = observe(history, nodes)
    if (history.seen.size > before) await c.saveSeen([...history.seen].sort())
    for (const p of peersToReclaim(owners, nodes, history)) {
      if (stopped) return
      const why = nodes.has(p.nickname) ? 'its node runs a newer agent' : 'its node was deleted'
      try {
        const takenOver = await c.rmpeer(p.peer)
        // 0: the peer was taken over already, or another agent is the heir.
        if (takenOver === 0n) continue
        c.reclaimed()
        c.log.info({ event: 'peer-reclaimed', target: p.peer, targetNickname: p.nickname, takenOver: takenOver.toString(), why }, 'took over the space of a peer that is gone')
      } catch (err) {
        c.log.info({ target: p.peer, targetNickname: p.nickname, why, err: (err as Error).message }, 'cannot take over a peer that is gone yet; retrying later')
      }
    }
  }
  const drain = async (): Promise<void> => {
    running = true
    try {
      for (let nodes = next; nodes !== null && !stopped; nodes = next) {
        next = null
        await pass(nodes).catch((err: unknown) => { c.log.error({ err }, 'reclaim pass failed') })
      }
    } finally {
      running = false
    }
  }
  return {
    nodes: names => {
      if (stopped) return
      next = names
      if (!running) void drain()
    },
    stop: () => { stopped = true }
  }
}
