/**
 * The reclaim loop: list the nodes, take over the peers of deleted ones (reclaim-choice.ts) with
 * rmpeer. rmpeer is decided once by a strict majority, and refused while any voter can reach the
 * target, so every agent may try at once (Weave needed a lock in a ConfigMap for this) and a
 * cut-off side of the cluster cannot do it.
 */
import type { PeerLine } from '@weft/protocol'
import type { Logger } from './log.ts'
import { believable, newHistory, observe, peersToReclaim } from './reclaim-choice.ts'
import type { NodeHistory } from './reclaim-choice.ts'

export interface ReclaimComponents {
  readonly listNodes: (signal: AbortSignal) => Promise<Set<string>>
  /** The ring's owners as the local agent sees them (status peers). */
  readonly owners: () => readonly PeerLine[]
  /** Takes a peer over; resolves with the number of addresses this agent inherited, decimal. */
  readonly rmpeer: (peer: string) => Promise<string>
  /** Node names seen before this start, and where to keep them when more are seen. */
  readonly seen: readonly string[]
  readonly saveSeen: (names: readonly string[]) => Promise<void>
  /** Counts a peer this agent took over. */
  readonly reclaimed: () => void
  readonly random: () => number
  readonly log: Logger
}

/**
 * Runs a pass every `intervalMs` (jittered, so agents restarted together do not all propose at
 * once) until stopped. A failed pass is logged and retried next time. Stopping aborts a listing in
 * flight; an rmpeer in flight fails with the agent, and nothing follows it.
 */
export function startReclaimer (c: ReclaimComponents, intervalMs: number): { stop: () => void } {
  let history: NodeHistory = newHistory(c.seen)
  let warned = false
  let timer: NodeJS.Timeout | null = null
  const stopping = new AbortController()

  const pass = async (): Promise<void> => {
    let nodes: Set<string>
    try {
      nodes = await c.listNodes(stopping.signal)
    } catch (err) {
      if (!stopping.signal.aborted) c.log.warn({ err: (err as Error).message }, 'cannot list Kubernetes nodes; reclaim retries later')
      return
    }
    const owners = c.owners()
    if (!believable(owners, nodes)) {
      if (!warned) c.log.warn({ nickname: owners.find(p => p.local)?.nickname, nodes: nodes.size }, 'the Kubernetes node list leaves out this agent\'s node (is WEFT_NICKNAME the node name?); reclaiming nothing')
      warned = true
      return
    }
    warned = false
    const before = history.seen.size
    history = observe(history, nodes)
    if (history.seen.size > before) await c.saveSeen([...history.seen].sort())
    for (const p of peersToReclaim(owners, nodes, history)) {
      if (stopping.signal.aborted) return
      const why = nodes.has(p.nickname) ? 'its node runs a newer agent' : 'its node was deleted'
      try {
        const takenOver = await c.rmpeer(p.id)
        // 0: the peer was taken over already, or another agent is the heir.
        if (takenOver === '0') continue
        c.reclaimed()
        c.log.info({ target: p.id, targetNickname: p.nickname, takenOver, why }, 'took over the space of a peer that is gone')
      } catch (err) {
        c.log.info({ target: p.id, targetNickname: p.nickname, why, err: (err as Error).message }, 'cannot take over a peer that is gone yet; retrying later')
      }
    }
  }
  const schedule = (): void => {
    if (stopping.signal.aborted) return
    timer = setTimeout(() => {
      pass()
        .catch((err: unknown) => { c.log.error({ err }, 'reclaim pass failed') })
        .finally(schedule)
    }, Math.round(intervalMs * (0.5 + c.random())))
  }
  schedule()
  return {
    stop: () => {
      stopping.abort()
      if (timer !== null) clearTimeout(timer)
    }
  }
}
