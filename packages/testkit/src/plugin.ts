/**
 * Runs CNI plugins as a runtime does: a fresh process with the CNI environment and the network
 * configuration on stdin, its result or error JSON read from stdout.
 */
import { execFile, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url))
/** The single executable scripts/build-cni.sh makes. */
export const WEFT_CNI = join(REPO_ROOT, 'bin', 'weft-cni')
/** Where Debian's containernetworking-plugins live. */
export const SYSTEM_CNI_DIR = '/usr/lib/cni'

/** PATH with the Node running the tests first, for scripts that need node. */
const pathWithNode = (): string => `${dirname(process.execPath)}:${process.env.PATH ?? ''}`

/** Builds bin/weft-cni unless it is newer than its sources (bounded: 5 minutes). */
export async function buildPlugin (): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('bash', [join(REPO_ROOT, 'scripts', 'build-cni.sh'), '--if-stale'], { cwd: REPO_ROOT, timeout: 300_000, env: { ...process.env, PATH: pathWithNode() } },
      (err, _stdout, stderr) => err === null ? resolve() : reject(new Error(`building the CNI plugin failed: ${err.message}\n${stderr}`)))
  })
}

export interface PluginRun {
  /** The exit status; a killed process counts as -1. */
  code: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON, or undefined when it is empty or not JSON. */
  json: Record<string, unknown> | undefined
}

/**
 * Runs a plugin once, with exactly the given environment; kills it after `timeoutMs`. `command` is the
 * binary, or a command line ending in it (e.g. `ip netns exec <ns> <plugin>`).
 */
export async function execPlugin (command: string | readonly string[], env: Readonly<Record<string, string>>, stdin: string, timeoutMs = 60_000): Promise<PluginRun> {
  const [binary = '', ...argv] = typeof command === 'string' ? [command] : command
  return await new Promise((resolve, reject) => {
    const child = spawn(binary, argv, { env: { ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (e) => { clearTimeout(timer); reject(e) })
    child.once('close', (code) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString('utf8')
      resolve({ code: code ?? -1, stdout, stderr: Buffer.concat(err).toString('utf8'), json: parseJson(stdout) })
    })
    // A plugin may exit before reading stdin (VERSION, bad env): that is not an error here.
    child.stdin.on('error', () => {})
    child.stdin.end(stdin)
  })
}

function parseJson (text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null ? v as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

export interface Call {
  command: string
  containerId?: string
  ifname?: string
  netns?: string
  args?: string
  /** CNI_PATH; defaults to the system plugins' dir. */
  path?: string
}

/** The CNI environment for one call; only the variables given are set, as a runtime does. */
export function cniEnv (call: Call): Record<string, string> {
  const env: Record<string, string> = { CNI_COMMAND: call.command, CNI_PATH: call.path ?? SYSTEM_CNI_DIR }
  if (call.containerId !== undefined) env.CNI_CONTAINERID = call.containerId
  if (call.ifname !== undefined) env.CNI_IFNAME = call.ifname
  if (call.netns !== undefined) env.CNI_NETNS = call.netns
  if (call.args !== undefined) env.CNI_ARGS = call.args
  return env
}

/** The first address (CIDR) of a result in any version's layout. */
export function resultAddress (result: Record<string, unknown> | undefined): string | undefined {
  return resultAddresses(result)[0]
}

/** Every address (CIDR) of a result in any version's layout: `ips` in order, or `ip4` then `ip6`. */
export function resultAddresses (result: Record<string, unknown> | undefined): string[] {
  const r = result as { ips?: Array<{ address?: string }>, ip4?: { ip?: string }, ip6?: { ip?: string } } | undefined
  const all = r?.ips !== undefined ? r.ips.map(ip => ip.address) : [r?.ip4?.ip, r?.ip6?.ip]
  return all.filter((a): a is string => typeof a === 'string')
}
