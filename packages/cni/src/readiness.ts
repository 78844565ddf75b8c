import type { PoolStatus, StatusResponse } from '@weft/protocol'

/** Why the agent cannot take an ADD now, and the agent status word that says so (the error's details). */
export interface StatusProblem {
  readonly reason: string
  readonly status: string
}

/**
 * Why the agent cannot take an ADD of a config naming `pools` (absent: the agent's default pools)
 * now, from its status; null when it can. Each pool must serve: `idle` is ready (the first ADD
 * initialises the ring, as in Weave); with nothing free here an ADD needs a donation, possible only
 * when a reachable peer reports free addresses (its gossiped count). A pool the agent does not
 * serve, or one draining, serves no ADD.
 */
export function statusProblem (st: StatusResponse, pools?: readonly string[]): StatusProblem | null {
  const wanted = pools === undefined ? st.pools.filter(p => p.default) : pools.map(name => st.pools.find(p => p.pool === name) ?? name)
  const several = wanted.length > 1
  for (const p of wanted) {
    if (typeof p === 'string') return { reason: `weft agent serves no pool ${JSON.stringify(p)} (it serves ${st.pools.map(x => x.pool).join(', ')})`, status: 'unknown-pool' }
    const problem = poolProblem(p, several)
    if (problem !== null) return problem
  }
  return null
}

function poolProblem (p: PoolStatus, several: boolean): StatusProblem | null {
  const which = several ? ` (pool ${p.pool})` : ''
  if (p.draining) return { reason: `pool ${p.pool} is draining: it takes no new allocations`, status: 'pool-draining' }
  if (p.status === 'idle') return null
  if (p.status !== 'ready') return { reason: `weft agent is not ready${which}: ${p.statusText}`, status: p.status }
  if (p.freeLocal !== '0') return null
  const donor = p.peers.some((x) => !x.local && x.reachable && x.free !== '0')
  return donor ? null : { reason: `range ${p.range} is exhausted: no free address on this peer or on any reachable peer`, status: p.status }
}
