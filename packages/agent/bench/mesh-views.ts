/**
 * What the mesh bench shows when the agents' `status ipam` views do not agree: per peer, the views of
 * its line (nickname and share) that differ from the most common one and who holds each; per agent,
 * its connections and the peers it marks unreachable. Pure: statuses in, lines out.
 */
import type { StatusResponse } from '@weft/protocol'

/** At most this many agents are named beside one view; more are counted. */
const NAMED = 4

export function disagreement (statuses: readonly StatusResponse[]): string[] {
  const name = new Map(statuses.map(s => [s.peer.id, s.peer.nickname]))
  const nick = (id: string): string => name.get(id) ?? id.slice(-6)
  const lines: string[] = []
  const lineViews = new Map<string, Map<string, string[]>>()
  for (const s of statuses) {
    for (const p of s.peers) {
      const views = lineViews.get(p.id) ?? new Map<string, string[]>()
      lineViews.set(p.id, views)
      const key = `${p.nickname === '' ? '(no member record)' : p.nickname} ${p.addresses}`
      views.set(key, [...(views.get(key) ?? []), s.peer.nickname])
    }
  }
  for (const [id, views] of lineViews) {
    const held = [...views.values()].reduce((n, who) => n + who.length, 0)
    if (views.size === 1 && held === statuses.length) continue
    const shown = [...views].sort((a, b) => b[1].length - a[1].length)
      .map(([view, who]) => `${view} by ${who.length <= NAMED ? who.join(' ') : `${who.length} agents`}`)
    const missing = statuses.length - held
    lines.push(`peer ${nick(id)}: ${shown.join('; ')}${missing > 0 ? `; absent from ${missing} views` : ''}`)
  }
  for (const s of statuses) {
    const unreachable = s.peers.filter(p => !p.reachable).map(p => nick(p.id))
    if (unreachable.length > 0) lines.push(`agent ${s.peer.nickname} (${s.connections} connections) marks unreachable: ${unreachable.join(' ')}`)
  }
  return lines
}

/** How far the views are from agreeing, by kind: what the bench's timeline after ready shows. */
export interface ViewGaps {
  /** Lines of a view without the peer's member record (no nickname), or peers a view lacks. */
  readonly records: number
  /** Peers whose share differs between views. */
  readonly shares: number
  /** Peers marked unreachable, summed over the views. */
  readonly unreachable: number
}

export function viewGaps (statuses: readonly StatusResponse[], n: number): ViewGaps {
  let records = 0
  let unreachable = 0
  const shares = new Map<string, Set<string>>()
  for (const s of statuses) {
    records += Math.max(0, n - s.peers.length)
    for (const p of s.peers) {
      if (p.nickname === '') records++
      if (!p.reachable) unreachable++
      const seen = shares.get(p.id) ?? new Set<string>()
      shares.set(p.id, seen.add(p.addresses))
    }
  }
  return { records, shares: [...shares.values()].filter(v => v.size > 1).length, unreachable }
}
