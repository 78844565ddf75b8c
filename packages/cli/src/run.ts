import { AgentTimeoutError, AgentUnavailableError, ApiError, createClient, ProtocolError } from '@weft/protocol'
import { parseArgs, usage, UsageError } from './args.ts'
import type { CliArgs, Env } from './args.ts'
import { formatPoolsIpam, formatPoolStatus, formatPs, formatRmpeer, formatStatus } from './format.ts'

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
}

/** How long the CLI waits for an answer; prime and rmpeer wait on the mesh, so they get longer. */
const TIMEOUT_MS = 10_000
const SLOW_TIMEOUT_MS = 120_000

/** Runs one command line; returns the exit status (0 ok, 1 failed, 2 usage). */
export async function run (argv: readonly string[], env: Env, io: Io): Promise<number> {
  let args: CliArgs
  try {
    args = parseArgs(argv, env)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    io.err(`weft: ${err.message}\n\n${usage(err.command)}`)
    return 2
  }
  if (args.help || args.command === null) {
    (args.help ? io.out : io.err)(usage(args.command))
    return args.help ? 0 : 2
  }
  if (args.command === 'agent') return await runAgent(args, env)
  try {
    io.out(await query(args))
    return 0
  } catch (err) {
    if (err instanceof AgentUnavailableError || err instanceof AgentTimeoutError || err instanceof ProtocolError || err instanceof UnknownPoolError) {
      io.err(`weft: ${err.message}`)
    } else if (err instanceof ApiError) {
      io.err(`weft: ${args.command} failed (${err.code}): ${err.message}`)
    } else {
      throw err
    }
    return 1
  }
}

async function query (args: CliArgs): Promise<string> {
  const slow = args.command === 'prime' || args.command === 'rmpeer' || args.command === 'pool'
  const client = createClient({ socketPath: args.socket, timeoutMs: slow ? SLOW_TIMEOUT_MS : TIMEOUT_MS })
  const json = (v: unknown): string => JSON.stringify(v, null, 2)
  switch (args.command) {
    case 'status': {
      const st = await client.status()
      const pools = onlyPool(st.pools.map(p => p.pool), args.pool, st.pools)
      if (args.operands[0] === 'ipam') return args.json ? json(pools.map(({ pool, range, peers }) => ({ pool, range, peers }))) : formatPoolsIpam(pools)
      if (args.pool !== null) return args.json ? json(pools[0]) : formatPoolStatus(pools[0]!)
      return args.json ? json(st) : formatStatus(st)
    }
    case 'ps': {
      const { allocations } = await client.allocations()
      const shown = args.pool === null ? allocations : onlyPool((await client.status()).pools.map(p => p.pool), args.pool, allocations)
      return args.json ? json(shown) : formatPs(shown)
    }
    case 'rmpeer': return formatRmpeer(await client.rmpeer({ peer: args.operands[0] ?? '', ...(args.force ? { force: true } : {}) }))
    case 'prime': return (await client.prime()).statusText
    case 'report': return json(await client.report())
    case 'pool': {
      const r = await client.retirePool({ pool: args.operands[1] ?? '' })
      return `pool ${r.pool} retired on ${r.agents} agent${r.agents === 1 ? '' : 's'}`
    }
    default: throw new Error(`no query for ${String(args.command)}`)
  }
}

/** What belongs to `--pool`'s pool (all when it is not given); a pool the agent does not serve is an error naming those it does. */
function onlyPool<T extends { pool: string }> (served: readonly string[], pool: string | null, items: readonly T[]): T[] {
  if (pool === null) return [...items]
  if (!served.includes(pool)) throw new UnknownPoolError(`--pool ${pool}: the agent serves no such pool (it serves ${served.join(', ')})`)
  return items.filter(i => i.pool === pool)
}

/** `--pool` names a pool the agent does not serve. */
class UnknownPoolError extends Error {
  override readonly name = 'UnknownPoolError'
}

/** `weft agent`: the agent's own entry point, loaded only here so other commands stay quick. */
async function runAgent (args: CliArgs, env: Env): Promise<number> {
  const { runAgentMain } = await import('@weft/agent')
  return await runAgentMain({ ...env, WEFT_SOCKET: args.socket })
}
