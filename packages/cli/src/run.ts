import { AgentTimeoutError, AgentUnavailableError, ApiError, createClient, ProtocolError } from '@weft/protocol'
import { parseArgs, usage, UsageError } from './args.ts'
import type { CliArgs, Env } from './args.ts'
import { formatIpam, formatPs, formatRmpeer, formatStatus } from './format.ts'

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
    if (err instanceof AgentUnavailableError || err instanceof AgentTimeoutError || err instanceof ProtocolError) {
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
  const slow = args.command === 'prime' || args.command === 'rmpeer'
  const client = createClient({ socketPath: args.socket, timeoutMs: slow ? SLOW_TIMEOUT_MS : TIMEOUT_MS })
  const json = (v: unknown): string => JSON.stringify(v, null, 2)
  switch (args.command) {
    case 'status': {
      const st = await client.status()
      if (args.operands[0] === 'ipam') return args.json ? json(st.peers) : formatIpam(st.peers)
      return args.json ? json(st) : formatStatus(st)
    }
    case 'ps': {
      const { allocations } = await client.allocations()
      return args.json ? json(allocations) : formatPs(allocations)
    }
    case 'rmpeer': return formatRmpeer(await client.rmpeer({ peer: args.operands[0] ?? '', ...(args.force ? { force: true } : {}) }))
    case 'prime': return (await client.prime()).statusText
    case 'report': return json(await client.report())
    default: throw new Error(`no query for ${String(args.command)}`)
  }
}

/** `weft agent`: the agent's own entry point, loaded only here so other commands stay quick. */
async function runAgent (args: CliArgs, env: Env): Promise<number> {
  const { runAgentMain } = await import('@weft/agent')
  return await runAgentMain({ ...env, WEFT_SOCKET: args.socket })
}
