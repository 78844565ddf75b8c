import { DEFAULT_SOCKET, poolNameProblem } from '@weft/protocol'

export const COMMANDS = ['agent', 'status', 'ps', 'rmpeer', 'prime', 'report', 'pool'] as const
export type CliCommand = typeof COMMANDS[number]

export interface CliArgs {
  command: CliCommand | null
  /** Words after the command: `ipam` for status, the peer for rmpeer. */
  operands: string[]
  socket: string
  json: boolean
  /** rmpeer only: decide without a vote. */
  force: boolean
  /** status and ps: only this pool. */
  pool: string | null
  help: boolean
}

/** A command line that cannot be run: printed with the usage, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  readonly command: CliCommand | null
  constructor (message: string, command: CliCommand | null) {
    super(message)
    this.command = command
  }
}

export type Env = Readonly<Record<string, string | undefined>>

/** What each command accepts after its name. */
const OPERANDS: Record<CliCommand, { min: number, max: number, words?: readonly string[] }> = {
  agent: { min: 0, max: 0 },
  status: { min: 0, max: 1, words: ['ipam'] },
  ps: { min: 0, max: 0 },
  rmpeer: { min: 1, max: 1 },
  prime: { min: 0, max: 0 },
  report: { min: 0, max: 0 },
  pool: { min: 2, max: 2 }
}
const JSON_COMMANDS: ReadonlySet<CliCommand> = new Set(['status', 'ps'])

/** Flags may come anywhere; `--socket` defaults to WEFT_SOCKET, then the agent's default path. */
export function parseArgs (argv: readonly string[], env: Env): CliArgs {
  const words: string[] = []
  let socket = env.WEFT_SOCKET !== undefined && env.WEFT_SOCKET !== '' ? env.WEFT_SOCKET : DEFAULT_SOCKET
  let json = false
  let force = false
  let help = false
  let pool: string | null = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? ''
    if (a === '--help' || a === '-h') help = true
    else if (a === '--pool' || a.startsWith('--pool=')) {
      pool = a === '--pool' ? (argv[++i] ?? '') : a.slice('--pool='.length)
      const problem = poolNameProblem(pool)
      if (problem !== null) throw new UsageError(`--pool needs a pool name: ${problem}`, null)
    }
    else if (a === '--json') json = true
    else if (a === '--force') force = true
    else if (a === '--socket') {
      const next = argv[++i]
      if (next === undefined || next === '') throw new UsageError('--socket needs a path', null)
      socket = next
    } else if (a.startsWith('--socket=')) {
      socket = a.slice('--socket='.length)
      if (socket === '') throw new UsageError('--socket needs a path', null)
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`, null)
    else words.push(a)
  }
  const [first, ...operands] = words
  if (first === undefined) return { command: null, operands: [], socket, json, force, pool, help }
  if (!(COMMANDS as readonly string[]).includes(first)) throw new UsageError(`unknown command ${JSON.stringify(first)}`, null)
  const command = first as CliCommand
  if (help) return { command, operands, socket, json, force, pool, help }
  const spec = OPERANDS[command]
  if (operands.length < spec.min) throw new UsageError(`${command} needs ${spec.min === 1 ? 'an argument' : `${spec.min} arguments`}`, command)
  if (operands.length > spec.max) throw new UsageError(`${command}: unexpected ${JSON.stringify(operands[spec.max])}`, command)
  const bad = operands.find((w) => spec.words !== undefined && !spec.words.includes(w))
  if (bad !== undefined) throw new UsageError(`${command}: unknown argument ${JSON.stringify(bad)}`, command)
  if (command === 'pool') {
    if (operands[0] !== 'retire') throw new UsageError(`pool: unknown operation ${JSON.stringify(operands[0])} (pool retire <name>)`, command)
    const problem = poolNameProblem(operands[1] ?? '')
    if (problem !== null) throw new UsageError(`pool retire: ${problem}`, command)
  }
  if (json && !JSON_COMMANDS.has(command)) throw new UsageError(`${command} does not take --json`, command)
  if (force && command !== 'rmpeer') throw new UsageError(`${command} does not take --force`, command)
  if (pool !== null && !JSON_COMMANDS.has(command)) throw new UsageError(`${command} does not take --pool`, command)
  return { command, operands, socket, json, force, pool, help }
}

const GENERAL = `usage: weft [--socket PATH] <command> [--help]

commands:
  agent                    run the agent (configured by IPALLOC_RANGE, IPALLOC_INIT, WEFT_* variables)
  status [ipam] [--pool NAME] [--json]
                           the agent's IPAM status, a line per pool; "ipam": per pool (its name as
                           a heading), one line per peer and its share of the pool's range
  ps [--pool NAME] [--json]
                           the allocations of this node: network, pool, container, interface, address, pod
  rmpeer <peer|nickname> [--force]
                           take over the ranges of a dead peer
  prime                    wait until the ring is initialised (starts consensus if needed)
  pool retire <name>       remove a drained, empty pool's ring state from every agent
  report                   everything the agent knows, as JSON

--socket PATH   the agent's socket (default: $WEFT_SOCKET, else ${DEFAULT_SOCKET})`

const DETAIL: Record<CliCommand, string> = {
  agent: 'usage: weft agent\n\nRuns the weft agent in the foreground. Its settings come from the environment:\nIPALLOC_RANGE, IPALLOC_INIT, WEFT_PEERS, WEFT_LISTEN, WEFT_DATA_DIR, WEFT_SOCKET,\nWEFT_SWARM_KEY_FILE, WEFT_NICKNAME, WEFT_METRICS_ADDR, WEFT_POOLS (--socket sets WEFT_SOCKET).',
  status: 'usage: weft status [ipam] [--pool NAME] [--json] [--socket PATH]\n\nWithout "ipam": the status, range and peer counts of the first pool, then a line per pool.\nWith "ipam": per pool, a heading "<pool> <range>" (draining, default), then one line per peer,\n"<peer>(<nickname>)  <N> IPs (<P>% of total)", the local peer first with its active count.\n\n--pool NAME  only that pool',
  ps: 'usage: weft ps [--pool NAME] [--json] [--socket PATH]\n\nOne line per allocation on this node: network, pool, container id, interface, address, pod.\n\n--pool NAME  only that pool\'s allocations',
  rmpeer: 'usage: weft rmpeer <peer|nickname> [--force] [--socket PATH]\n\nTakes over every range of a dead peer. A strict majority of all peers, the dead one\ncounted, must agree, and none of them may still reach it; a peer is taken over at most once.\n\n--force  decide alone, without a vote. Only when half the peers or more are gone for\n         good, so no majority can ever answer; run it on one agent, once per dead peer.\n         Forcing a peer that is alive, or from two agents, can hand addresses out twice.',
  prime: 'usage: weft prime [--socket PATH]\n\nWaits (bounded) until the ring is initialised, starting consensus if needed.',
  report: 'usage: weft report [--socket PATH]\n\nPrints status, ring and allocations as JSON.',
  pool: 'usage: weft pool retire <name> [--socket PATH]\n\nRemoves a pool\'s ring state from every agent, for good. The pool must be draining on every\nagent (WEFT_POOLS "draining": true) and hold no pod\'s address anywhere; every member of its\nring must answer. Otherwise nothing changes and the refusal names who holds what.'
}

export const usage = (command: CliCommand | null): string => command === null ? GENERAL : DETAIL[command]
