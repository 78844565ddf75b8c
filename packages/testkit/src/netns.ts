/**
 * Network namespaces for tests: created with unique names, removed by the test's teardown. Every
 * command is bounded in time.
 */
import { execFile } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import { join } from 'node:path'
import { SYSTEM_CNI_DIR } from './plugin.ts'

/** Where `ip netns add` puts the namespace handles runtimes pass as CNI_NETNS. */
export const NETNS_DIR = '/var/run/netns'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command (no shell), at most `timeoutMs`; never throws on a non-zero exit. */
export async function run (argv: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
  const [cmd = '', ...args] = argv
  return await new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr: stderr + (err !== null && typeof err.code !== 'number' ? err.message : '') })
    })
  })
}

/** Throws with the command's output unless it succeeds. */
export async function must (argv: readonly string[]): Promise<string> {
  const r = await run(argv)
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`)
  return r.stdout
}

async function executable (path: string): Promise<boolean> {
  return await access(path, constants.X_OK).then(() => true, () => false)
}

/** Finds a tool in the usual system dirs (the tests give plugins no PATH). */
export async function which (name: string): Promise<string | null> {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (await executable(join(dir, name))) return join(dir, name)
  }
  return null
}

/** Why the namespace tests cannot run here, or null when they can. */
export async function namespaceSkipReason (): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)'
  if (!await executable(join(SYSTEM_CNI_DIR, 'bridge'))) return `needs ${SYSTEM_CNI_DIR}/bridge (containernetworking-plugins; scripts/system-deps.sh installs it)`
  if (await which('ip') === null) return 'needs ip (iproute2)'
  if (await which('ping') === null) return 'needs ping (iputils-ping)'
  const probe = uniqueName('probe')
  const made = await run(['ip', 'netns', 'add', probe])
  await run(['ip', 'netns', 'del', probe])
  return made.code === 0 ? null : `cannot create network namespaces: ${made.stderr.trim()}`
}

/** A name no other run uses: pid and a random part, within the 15 characters interface names allow. */
export function uniqueName (label: string): string {
  return `w${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}${label}`.slice(0, 15)
}

export async function addNetns (name: string): Promise<string> {
  await must(['ip', 'netns', 'add', name])
  return join(NETNS_DIR, name)
}

/** Removes a namespace if it exists; what lived only in it (veths, bridges) goes with it. */
export async function delNetns (name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name])
}

/** argv run inside a namespace. */
export const inNetns = (name: string, argv: readonly string[]): string[] => ['ip', 'netns', 'exec', name, ...argv]
