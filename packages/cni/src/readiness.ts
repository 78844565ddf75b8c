import type { ReportResponse, StatusResponse } from '@weft/protocol'

/** The status alone cannot tell: this peer has no free address left, so it depends on the others' space. */
export const ASK_RING = 'ask-ring'

/**
 * Why the agent cannot take an ADD now, from its status; null when it can. `idle` is ready: the first
 * ADD initialises the ring, as in Weave.
 */
export function statusProblem (st: StatusResponse): string | null | typeof ASK_RING {
  if (st.status === 'idle') return null
  if (st.status !== 'ready') return `weft agent is not ready: ${st.statusText}`
  return st.freeLocal === '0' ? ASK_RING : null
}

/**
 * With no free address here, an ADD needs a donation: possible only when a reachable peer reports
 * free addresses in the ring (its gossiped hint). Null when one does.
 */
export function exhaustedProblem (st: StatusResponse, ring: ReportResponse['ring']): string | null {
  const reachable = new Set(st.peers.filter((p) => p.reachable && !p.local).map((p) => p.id))
  const donor = ring.entries.some((e) => e.owner !== st.peer.id && reachable.has(e.owner) && e.free !== '0')
  return donor ? null : `range ${st.range} is exhausted: no free address on this peer or on any reachable peer`
}
