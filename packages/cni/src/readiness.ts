import type { StatusResponse } from '@weft/protocol'

/**
 * Why the agent cannot take an ADD now, from its status; null when it can. `idle` is ready: the first
 * ADD initialises the ring, as in Weave. With nothing free here an ADD needs a donation, possible only
 * when a reachable peer reports free addresses (its gossiped count).
 */
export function statusProblem (st: StatusResponse): string | null {
  if (st.status === 'idle') return null
  if (st.status !== 'ready') return `weft agent is not ready: ${st.statusText}`
  if (st.freeLocal !== '0') return null
  const donor = st.peers.some((p) => !p.local && p.reachable && p.free !== '0')
  return donor ? null : `range ${st.range} is exhausted: no free address on this peer or on any reachable peer`
}
