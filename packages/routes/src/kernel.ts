/**
 * The thin executor: reads the kernel with `ip -json` and `bridge -json`, writes with `ip -batch` and
 * `bridge -batch`, reads and writes /proc/sys, and reads /sys/class/net. Nothing human-oriented is
 * parsed: JSON on the way in, and on the way out only the batch's "Command failed -:N" markers, to name
 * the commands that failed.
 * With `netns`, every command runs in that network namespace (for tests; the agent runs in the node's).
 */
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Changes } from './diff.ts'
import { NO_MAC, VXLAN_DEVICE, WEFT_PROTO } from './types.ts'
import type { DesiredState, Family, ObservedBridge, ObservedFdb, ObservedNeighbour, ObservedRoute, ObservedState, ObservedVxlan } from './types.ts'

/** One command that did not go through, with the kernel's answer. */
export interface Failure {
  readonly command: string
  readonly answer: string
}

export interface KernelOptions {
  readonly netns?: string
  /** Bound on one command. */
  readonly timeoutMs?: number
}

interface Output {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const PROC_SYS = '/proc/sys'
const SYS_NET = '/sys/class/net'
/** `addr_assign_type` of a MAC given by hand (NET_ADDR_SET): the kernel keeps it. */
const ADDR_SET = '3'
/** iproute2 lives in sbin, which a container's or a test's PATH may lack. */
const TOOL_PATH = `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin:/sbin:/bin`
type Json = Record<string, unknown>

export class Kernel {
  readonly #netns: string | undefined
  readonly #timeoutMs: number

  constructor (options: KernelOptions = {}) {
    this.#netns = options.netns
    this.#timeoutMs = options.timeoutMs ?? 10_000
  }

  /** What weft owns or needs, as the kernel holds it now. */
  async read (want: DesiredState): Promise<ObservedState> {
    const [routes4, routes6, bridges, vxlan, neighbours, fdb, sysctls] = await Promise.all([
      this.#routes(4, want.families.includes(4)),
      this.#routes(6, want.families.includes(6)),
      Promise.all(want.bridges.map(async name => [name, await this.#bridge(name)] as const)),
      this.#vxlan(),
      this.#neighbours(),
      this.#fdb(),
      Promise.all(want.sysctls.map(async s => [s.path, await this.#readFile(join(PROC_SYS, s.path))] as const))
    ])
    return {
      routes: [...routes4, ...routes6],
      bridges: new Map(bridges.flatMap(([name, b]) => b === null ? [] : [[name, b] as const])),
      vxlan,
      neighbours,
      fdb,
      sysctls: new Map(sysctls.flatMap(([p, v]) => v === null ? [] : [[p, v] as const]))
    }
  }

  /** Runs the changes: the `ip` batch, the `bridge` batch, then the settings. Returns what failed. */
  async apply (c: Changes): Promise<Failure[]> {
    const failures: Failure[] = []
    if (c.ip.length > 0) failures.push(...await this.#batch('ip', c.ip))
    if (c.bridge.length > 0) failures.push(...await this.#batch('bridge', c.bridge))
    for (const s of c.sysctls) {
      const err = await this.#writeSysctl(s.path, s.value)
      if (err !== null) failures.push({ command: `sysctl ${s.path.replaceAll('/', '.')}=${s.value}`, answer: err })
    }
    return failures
  }

  /** The MTU of the device that holds `address`, or null when no device does. */
  async mtuOf (address: string): Promise<number | null> {
    const links = await this.#json(['ip', '-json', 'addr', 'show'])
    const link = links.find(l => array(l.addr_info).some(a => isObject(a) && a.local === address))
    return link !== undefined && typeof link.mtu === 'number' ? link.mtu : null
  }

  /** The source address this node would use towards `address` (`ip route get`), or null when it has no route. */
  async sourceTowards (address: string): Promise<string | null> {
    const r = await this.#run(['ip', '-json', 'route', 'get', address])
    if (r.code !== 0) return null
    const first = parseArray(r.stdout)[0]
    return first !== undefined && typeof first.prefsrc === 'string' ? first.prefsrc : null
  }

  /**
   * weft's routes of one family. A family no pool has is read too, so that its stale routes go (a
   * pool retired), but a kernel without it (IPv6 disabled) holds none.
   */
  async #routes (family: Family, needed: boolean): Promise<ObservedRoute[]> {
    const argv = ['ip', `-${family}`, '-json', 'route', 'show', 'table', 'main', 'proto', String(WEFT_PROTO)]
    const rows = needed ? await this.#json(argv) : await this.#json(argv).catch(() => [])
    return rows.flatMap(r => typeof r.dst !== 'string'
      ? []
      : [{
          dst: r.dst,
          ...(gatewayOf(r) === undefined ? {} : { gateway: gatewayOf(r) }),
          ...(typeof r.dev === 'string' ? { dev: r.dev } : {}),
          onlink: flags(r).includes('onlink')
        }])
  }

  /** A link's JSON, or null when there is no such device. */
  async #link (name: string, details = false): Promise<Json | null> {
    const r = await this.#run(['ip', '-json', ...(details ? ['-details'] : []), 'link', 'show', 'dev', name])
    if (r.code !== 0) {
      if (/does not exist/.test(r.stderr)) return null
      throw new Error(`ip link show dev ${name} failed: ${r.stderr.trim()}`)
    }
    return parseArray(r.stdout)[0] ?? null
  }

  async #bridge (name: string): Promise<ObservedBridge | null> {
    const l = await this.#link(name)
    if (l === null) return null
    const mac = typeof l.address === 'string' ? l.address : NO_MAC
    // sysfs shows the devices of the namespace it was mounted in: trusted only when its device is this
    // one. Otherwise a MAC the bridge has is taken as pinned, and only an all-zero one as not.
    const [index, type] = await Promise.all(['ifindex', 'addr_assign_type'].map(async f => await this.#readFile(join(SYS_NET, name, f))))
    const pinned = index === String(l.ifindex) && type !== null ? type === ADDR_SET : mac !== NO_MAC
    return { up: flags(l).includes('UP'), mac, pinned }
  }

  async #vxlan (): Promise<ObservedVxlan | null> {
    const l = await this.#link(VXLAN_DEVICE, true)
    if (l === null) return null
    const info = isObject(l.linkinfo) ? l.linkinfo : {}
    const data = isObject(info.info_data) ? info.info_data : {}
    const local = typeof data.local === 'string' ? data.local : typeof data.local6 === 'string' ? data.local6 : null
    return {
      // Another kind of device under our name is made again, like a VXLAN device with the wrong id.
      vni: info.info_kind === 'vxlan' && typeof data.id === 'number' ? data.id : -1,
      port: typeof data.port === 'number' ? data.port : -1,
      local,
      learning: data.learning === true,
      mac: typeof l.address === 'string' ? l.address : '',
      mtu: typeof l.mtu === 'number' ? l.mtu : 0,
      up: flags(l).includes('UP')
    }
  }

  async #neighbours (): Promise<ObservedNeighbour[]> {
    const r = await this.#run(['ip', '-json', 'neigh', 'show', 'dev', VXLAN_DEVICE])
    if (r.code !== 0) return []
    return parseArray(r.stdout).flatMap(n => typeof n.dst !== 'string'
      ? []
      : [{ dst: n.dst, lladdr: typeof n.lladdr === 'string' ? n.lladdr : null, permanent: array(n.state).includes('PERMANENT') }])
  }

  async #fdb (): Promise<ObservedFdb[]> {
    const r = await this.#run(['bridge', '-json', 'fdb', 'show', 'dev', VXLAN_DEVICE])
    if (r.code !== 0) return []
    return parseArray(r.stdout).flatMap(f => typeof f.mac === 'string' && typeof f.dst === 'string' ? [{ mac: f.mac, dst: f.dst }] : [])
  }

  /** A file's text, trimmed, or null when it cannot be read. */
  async #readFile (path: string): Promise<string | null> {
    if (this.#netns === undefined) return await readFile(path, 'utf8').then(v => v.trim(), () => null)
    const r = await this.#run(['cat', path])
    return r.code === 0 ? r.stdout.trim() : null
  }

  async #writeSysctl (path: string, value: string): Promise<string | null> {
    if (this.#netns === undefined) return await writeFile(join(PROC_SYS, path), value).then(() => null, (err: Error) => err.message)
    const r = await this.#run(['tee', join(PROC_SYS, path)], value)
    return r.code === 0 ? null : r.stderr.trim()
  }

  /** `-force` goes on past a failed line, so one bad command does not hold back the rest. */
  async #batch (tool: 'ip' | 'bridge', lines: readonly string[]): Promise<Failure[]> {
    const r = await this.#run([tool, '-force', '-batch', '-'], `${lines.join('\n')}\n`)
    if (r.code === 0) return []
    // Each failed line is reported as "Command failed -:N", after the kernel's answer to it.
    const failures: Failure[] = []
    let answer: string[] = []
    for (const line of r.stderr.split('\n')) {
      const m = /^Command failed -:(\d+)$/.exec(line.trim())
      if (m === null) {
        if (line.trim() !== '') answer.push(line.trim())
        continue
      }
      failures.push({ command: `${tool} ${lines[Number(m[1]) - 1] ?? `line ${m[1]}`}`, answer: answer.join('; ') })
      answer = []
    }
    return failures.length > 0 ? failures : [{ command: `${tool} -batch (${lines.length} lines)`, answer: r.stderr.trim() || `exit ${r.code}` }]
  }

  async #json (argv: readonly string[]): Promise<Json[]> {
    const r = await this.#run(argv)
    if (r.code !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.trim()}`)
    return parseArray(r.stdout)
  }

  async #run (argv: readonly string[], stdin?: string): Promise<Output> {
    const full = this.#netns === undefined ? argv : ['ip', 'netns', 'exec', this.#netns, ...argv]
    const [cmd = '', ...args] = full
    return await new Promise(resolve => {
      const child = execFile(cmd, args, { timeout: this.#timeoutMs, env: { ...process.env, PATH: TOOL_PATH } }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr: stderr + (err !== null && typeof err.code !== 'number' ? err.message : '') })
      })
      child.stdin?.on('error', () => {})
      child.stdin?.end(stdin ?? '')
    })
  }
}

/** `gateway`, or for a next hop of the other family (`via inet6`), `via.host`. */
function gatewayOf (r: Json): string | undefined {
  if (typeof r.gateway === 'string') return r.gateway
  return isObject(r.via) && typeof r.via.host === 'string' ? r.via.host : undefined
}

const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x)
const array = (x: unknown): unknown[] => (Array.isArray(x) ? x : [])
const flags = (x: Json): unknown[] => array(x.flags)

/** JSON output as an array of objects; anything else reads as empty (`ip` prints nothing for no rows). */
function parseArray (text: string): Json[] {
  if (text.trim() === '') return []
  const v: unknown = JSON.parse(text)
  return array(v).filter(isObject)
}
