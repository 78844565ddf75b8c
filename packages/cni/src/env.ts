import { fieldProblem } from '@weft/protocol'
import type { ContainerInterface } from '@weft/protocol'
import { isAddress } from './address.ts'
import { CniCode, CniError } from './errors.ts'

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const
export type Command = typeof COMMANDS[number]

/** What the env names of an attachment; the network comes from the config's `name`. */
export type { ContainerInterface }

/** What CNI_ARGS carries that weft uses. */
export interface CniArgs {
  podNamespace?: string
  podName?: string
  /** Addresses asked for with the deprecated `IP=` key (comma separated, as host-local reads it). */
  ips: string[]
}

export type Invocation =
  | { command: 'ADD' | 'CHECK' | 'DEL', attachment: ContainerInterface, netns?: string, args: CniArgs }
  | { command: 'GC' | 'STATUS' | 'VERSION', args: CniArgs }

export type Env = Readonly<Record<string, string | undefined>>

/** Which variables each command needs (libcni's skel also requires CNI_PATH). */
const REQUIRED: Record<Command, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: []
}

/** CNI_ARGS keys a runtime (Kubernetes) sends; any other key needs `IgnoreUnknown=1`. */
const KNOWN_ARGS = new Set(['IgnoreUnknown', 'IP', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID'])

/**
 * Reads the CNI environment as libcni's skel does. `null` means no CNI_COMMAND at all: the caller
 * prints the "about" line. Throws CniError code 4 naming every wrong variable.
 */
export function parseEnv (env: Env): Invocation | null {
  const command = env.CNI_COMMAND
  if (command === undefined || command === '') return null
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(CniCode.invalidEnv, `unknown CNI_COMMAND: ${command}`, `expected one of ${COMMANDS.join(', ')}`)
  }
  const cmd = command as Command
  const missing = REQUIRED[cmd].filter((name) => env[name] === undefined || env[name] === '')
  if (missing.length > 0) {
    throw new CniError(CniCode.invalidEnv, `required env variables [${missing.join(',')}] missing`)
  }
  const args = parseCniArgs(env.CNI_ARGS ?? '')
  if (cmd !== 'ADD' && cmd !== 'CHECK' && cmd !== 'DEL') return { command: cmd, args }
  const attachment = {
    containerId: valid(env, 'CNI_CONTAINERID', 'containerId'),
    ifname: valid(env, 'CNI_IFNAME', 'ifname')
  }
  const netns = env.CNI_NETNS
  return netns === undefined || netns === '' ? { command: cmd, attachment, args } : { command: cmd, attachment, netns, args }
}

/** A variable checked by the protocol's attachment rules, the agent's own. */
function valid (env: Env, name: string, field: 'containerId' | 'ifname'): string {
  const value = env[name] ?? ''
  const problem = fieldProblem(field, value)
  if (problem !== null) throw new CniError(CniCode.invalidEnv, `invalid ${name}: ${problem}`)
  return value
}

/** `K=V;K=V` as libcni's LoadArgs reads it. */
export function parseCniArgs (raw: string): CniArgs {
  const pairs: Array<[string, string]> = []
  for (const pair of raw.split(';')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new CniError(CniCode.invalidEnv, `invalid CNI_ARGS pair ${JSON.stringify(pair)}: expected KEY=VALUE`)
    pairs.push([pair.slice(0, eq), pair.slice(eq + 1)])
  }
  const ignoreUnknown = pairs.some(([k, v]) => k === 'IgnoreUnknown' && /^(1|t|true)$/i.test(v))
  const args: CniArgs = { ips: [] }
  for (const [key, value] of pairs) {
    if (key === 'K8S_POD_NAMESPACE') args.podNamespace = value
    else if (key === 'K8S_POD_NAME') args.podName = value
    else if (key === 'IP') args.ips = parseIpArg(value)
    else if (!KNOWN_ARGS.has(key) && !ignoreUnknown) {
      throw new CniError(CniCode.invalidEnv, `unknown CNI_ARGS key ${JSON.stringify(key)}`, 'set IgnoreUnknown=1 to ignore unknown keys')
    }
  }
  return args
}

function parseIpArg (value: string): string[] {
  const ips = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const bad = ips.find((ip) => !isAddress(ip))
  if (bad !== undefined || ips.length === 0) {
    throw new CniError(CniCode.invalidEnv, `invalid CNI_ARGS IP ${JSON.stringify(value)}: expected IP addresses separated by commas`)
  }
  return ips
}
