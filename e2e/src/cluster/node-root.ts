/**
 * A node's own machine: its network namespace (one of the test's LAN hosts) plus a mount and UTS
 * namespace whose root is a copy-on-write overlay of the machine's, so the node has its own /run,
 * /etc, /opt and /var without a byte of the machine's changing. The hostPath directories are the
 * node's temp dirs bind-mounted at their paths. A holder process keeps the namespaces alive; every
 * command enters them with nsenter. Killing the holder (after everything run in the node) tears it
 * all down: the mounts, and the pod network namespaces the node's runtime made under its /run.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir, readFile, realpath } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { which } from '@weft/testkit'

/** Builds the root in the new namespaces, then chroots the holder into it. */
const HOLDER = `set -eu
t=$1 name=$2; shift 2
mount -t tmpfs tmpfs "$t/ns"
mkdir "$t/ns/upper" "$t/ns/work" "$t/ns/root"
r=$t/ns/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/ns/upper,workdir=$t/ns/work" "$r"
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount --rbind /dev "$r/dev"
mount -t tmpfs tmpfs "$r/run"
hostname "$name"
# pairs: a machine path, and where the node sees it
while [ $# -ge 2 ]; do mkdir -p "$r$2"; mount --rbind "$1" "$r$2"; shift 2; done
exec chroot "$r" /bin/sh -c 'cd / && echo ready && exec sleep infinity'
`

export interface NodeRootOptions {
  readonly name: string
  /** The node's network namespace (from `ip netns`). */
  readonly netns: string
  /** The node's temp dir on the machine. */
  readonly dir: string
  /** Machine dirs to show at a node path, e.g. the hostPath volumes. */
  readonly binds: ReadonlyArray<readonly [machinePath: string, nodePath: string]>
  /** Machine paths the node's processes must see as they are (the repository, Node). */
  readonly shared: readonly string[]
}

export class NodeRoot {
  readonly name: string
  readonly #holder: ChildProcess
  readonly #nsenter: string

  private constructor (name: string, holder: ChildProcess, nsenter: string) {
    this.name = name
    this.#holder = holder
    this.#nsenter = nsenter
  }

  static async start (o: NodeRootOptions): Promise<NodeRoot> {
    const [ip, nsenter] = await Promise.all([which('ip'), which('nsenter')])
    if (ip === null || nsenter === null) throw new Error('a node needs ip (iproute2) and nsenter (util-linux)')
    await mkdir(join(o.dir, 'ns'), { recursive: true })
    // The overlay shows the machine's root filesystem only: other mounts holding what must be seen are bound in.
    const mounts = await mountPointsOf(o.shared)
    const pairs = [...mounts.map((m) => [m, m] as const), ...o.binds].flat()
    const holder = spawn(ip, ['netns', 'exec', o.netns, 'unshare', '--mount', '--uts', '--propagation', 'private', '--',
      '/bin/sh', '-c', HOLDER, 'holder', o.dir, o.name, ...pairs], { stdio: ['ignore', 'pipe', 'pipe'] })
    const root = new NodeRoot(o.name, holder, nsenter)
    try {
      await ready(holder, o.name)
    } catch (err) {
      await root.stop()
      throw err
    }
    return root
  }

  /** argv that runs `argv` inside the node: its mounts, network, hostname, root and cwd. */
  enter (argv: readonly string[], target = this.#holder.pid): string[] {
    return [this.#nsenter, '-t', String(target), '-m', '-n', '-u', '-r', '-w', '--', ...argv]
  }

  /** argv that runs `argv` in the node's network namespace only, with the machine's files. */
  enterNet (argv: readonly string[]): string[] {
    return [this.#nsenter, '-t', String(this.#holder.pid), '-n', '--', ...argv]
  }

  /** Ends the node; run it after everything started in the node has stopped. */
  async stop (): Promise<void> {
    const h = this.#holder
    if (h.exitCode !== null || h.signalCode !== null) return
    await new Promise<void>((resolve) => { h.once('exit', () => resolve()); h.kill('SIGKILL') })
  }
}

async function ready (holder: ChildProcess, name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`node ${name}: its namespaces were not up within 20 s: ${err}`)), 20_000)
    holder.stderr?.on('data', (c: Buffer) => { err += c.toString() })
    holder.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('ready\n')) { clearTimeout(timer); resolve() }
    })
    holder.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node ${name}: the namespace holder exited (${code ?? 'signal'}): ${err.trim()}`)) })
  })
}

/** The mount points (other than /) under which `paths` lie, each once, outermost first. */
async function mountPointsOf (paths: readonly string[]): Promise<string[]> {
  const points = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l !== '')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
  const found = new Set<string>()
  for (const p of await Promise.all(paths.map(async (p) => await realpath(p)))) {
    const under = points.filter((m) => m !== '/' && (p === m || p.startsWith(`${m}/`)))
    const outer = under.sort((a, b) => a.length - b.length)[0]
    if (outer !== undefined) found.add(outer)
  }
  return [...found].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))
    .filter((m, _, all) => !all.some((o) => o !== m && m.startsWith(`${o}/`)) && dirname(m) !== m)
}
