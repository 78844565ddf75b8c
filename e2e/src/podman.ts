/**
 * podman 4.3 (CNI backend, libcni) as the runtime, with nothing of the machine's podman set-up used:
 * its own containers.conf, storage and registries files, `--root`/`--runroot` in a temp dir, runc,
 * a tiny image imported from busybox-static, and the network the Kubernetes manifest installs,
 * installed by `deploy/install-cni.sh`. podman runs in a network namespace the test makes (through
 * `nsenter --net`, so its mounts stay in the host's mount namespace where its next call finds them):
 * the bridge, its addresses and the masquerade rules live there, never on the host.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { addNetns, delNetns, inNetns, must, NETNS_DIR, REPO_ROOT, run, SYSTEM_CNI_DIR, uniqueName, WEFT_CNI, which } from '@weft/testkit'
import type { RunResult } from '@weft/testkit'

export const IMAGE = 'localhost/weft-test:latest'
const BUSYBOX = '/bin/busybox'
/** Where libcni keeps its cached results; podman 4.3 offers no other place. */
const LIBCNI_CACHE = '/var/lib/cni/results'
const TOOLS = ['sh', 'ping', 'ip', 'sleep', 'cat', 'hostname', 'true']

/** Why podman cannot be the runtime here, or null. */
export async function podmanSkipReason (): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root'
  for (const tool of ['podman', 'runc', 'nsenter', 'conmon']) {
    if (await which(tool) === null) return `needs ${tool} (scripts/system-deps.sh installs it)`
  }
  // ldd fails on a static binary: the image's rootfs is that one file.
  if ((await run(['ldd', BUSYBOX])).code === 0) return `needs a static ${BUSYBOX} (busybox-static)`
  const version = await run(['podman', '--version'])
  if (!/ 4\./.test(version.stdout)) return `needs podman 4 (CNI backend), found ${version.stdout.trim()}`
  return null
}

/** The conflist deploy/kubernetes/weft.yaml installs, read from the manifest itself. */
export async function manifestConflist (): Promise<Record<string, unknown>> {
  const docs = parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', 'kubernetes', 'weft.yaml'), 'utf8')).map(d => d.toJS() as Record<string, unknown>)
  const cm = docs.find(d => d.kind === 'ConfigMap' && (d.metadata as { name?: string } | undefined)?.name === 'weft-cni')
  const text = (cm?.data as Record<string, string> | undefined)?.['10-weft.conflist']
  if (text === undefined) throw new Error('deploy/kubernetes/weft.yaml has no ConfigMap weft-cni with 10-weft.conflist')
  return JSON.parse(text) as Record<string, unknown>
}

export interface PodmanOptions {
  /** The agent socket the conflist is pointed at. */
  socketPath: string
  /** A conflist to install instead of the manifest's (the host-local side of the bench). */
  conflist?: Record<string, unknown>
}

export class Podman {
  readonly dir: string
  readonly netns: string
  readonly bridge: string
  readonly network: string
  readonly confDir: string
  readonly binDir: string
  readonly #env: Record<string, string>
  readonly #seen = new Set<string>()

  private constructor (dir: string, netns: string, bridge: string, network: string) {
    this.dir = dir
    this.netns = netns
    this.bridge = bridge
    this.network = network
    this.confDir = join(dir, 'cni', 'net.d')
    this.binDir = join(dir, 'cni', 'bin')
    this.#env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CONTAINERS_CONF: join(dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
      CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
      TMPDIR: join(dir, 'tmp')
    }
  }

  /** Everything set up: namespace, config files, the plugin and conflist installed, the image imported. */
  static async create (options: PodmanOptions): Promise<Podman> {
    const dir = await mkdtemp(join(tmpdir(), 'weft-podman-'))
    const netns = uniqueName('pm')
    const bridge = uniqueName('br')
    const conflist = structuredClone(options.conflist ?? await manifestConflist())
    const plugins = conflist.plugins as Array<Record<string, unknown>>
    const main = plugins[0] ?? {}
    // Only the socket and the bridge name change; everything else is the manifest's.
    main.bridge = bridge
    if ((main.ipam as Record<string, unknown>).type === 'weft') (main.ipam as Record<string, unknown>).socket = options.socketPath
    const p = new Podman(dir, netns, bridge, String(conflist.name))
    try {
      await p.#setUp(conflist)
    } catch (err) {
      await p.teardown()
      throw err
    }
    return p
  }

  async #setUp (conflist: Record<string, unknown>): Promise<void> {
    const d = this.dir
    for (const sub of ['root', 'runroot', 'tmp', 'rootfs/bin', 'libpod']) await mkdir(join(d, sub), { recursive: true })
    await addNetns(this.netns)
    await must(inNetns(this.netns, ['ip', 'link', 'set', 'lo', 'up']))
    await writeFile(join(d, 'containers.conf'), [
      '[containers]',
      // The sandbox refuses to raise rlimits.
      'default_ulimits = []',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${this.binDir}", "${SYSTEM_CNI_DIR}"]`,
      `network_config_dir = "${this.confDir}"`,
      '[engine]',
      // crun fails here ("cgroups in hybrid mode not supported"); runc works.
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      // Locks as files in tmp_dir, not the machine-wide /dev/shm/libpod_lock segment.
      'lock_type = "file"',
      'events_logger = "file"',
      `events_logfile_path = "${join(d, 'events.log')}"`,
      `tmp_dir = "${join(d, 'libpod')}"`,
      `static_dir = "${join(d, 'root', 'libpod')}"`,
      `volume_path = "${join(d, 'root', 'volumes')}"`,
      `infra_image = "${IMAGE}"`,
      ''
    ].join('\n'))
    await writeFile(join(d, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${join(d, 'root')}"\nrunroot = "${join(d, 'runroot')}"\n`)
    await writeFile(join(d, 'registries.conf'), 'unqualified-search-registries = []\n')
    const conflistFile = join(d, '10-weft.conflist')
    await writeFile(conflistFile, JSON.stringify(conflist, null, 2))
    const installed = await exec(['bash', join(REPO_ROOT, 'deploy', 'install-cni.sh')], {
      CNI_BIN_DIR: this.binDir, CNI_CONF_DIR: this.confDir, WEFT_CONFLIST: conflistFile, WEFT_CNI_PLUGIN: WEFT_CNI, PATH: this.#env.PATH ?? ''
    }, 60_000)
    if (installed.code !== 0) throw new Error(`deploy/install-cni.sh failed (${installed.code}): ${installed.stderr.trim()}`)
    // The image: busybox-static and its applets, nothing else; a CMD that keeps the container up.
    await copyFile(BUSYBOX, join(d, 'rootfs', 'bin', 'busybox'))
    for (const t of TOOLS) await symlink('busybox', join(d, 'rootfs', 'bin', t))
    await must(['tar', '-C', join(d, 'rootfs'), '-cf', join(d, 'rootfs.tar'), '.'])
    await this.must(['import', '--change', 'CMD ["/bin/sleep", "3600"]', join(d, 'rootfs.tar'), IMAGE])
  }

  /** One podman command in the test's namespace, bounded in time; never throws on a non-zero exit. */
  async podman (args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    const r = await exec(['nsenter', `--net=${join(NETNS_DIR, this.netns)}`, '--', 'podman', '--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), ...args], this.#env, timeoutMs)
    for (const id of (await this.#ids())) this.#seen.add(id)
    return r
  }

  /** podman, throwing with its output unless it succeeds. */
  async must (args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const r = await this.podman(args, timeoutMs)
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`)
    return r.stdout.trim()
  }

  /** The address a container holds on the network, or '' when it has none. */
  async address (container: string): Promise<string> {
    return await this.must(['inspect', container, '--format', `{{(index .NetworkSettings.Networks "${this.network}").IPAddress}}`])
  }

  /** The full id of a container. */
  async id (container: string): Promise<string> {
    return await this.must(['inspect', container, '--format', '{{.Id}}'])
  }

  /** The bridge's IPv4 addresses (CIDR) in the test's namespace. */
  async bridgeAddresses (): Promise<string[]> {
    const r = await run(inNetns(this.netns, ['ip', '-4', '-o', 'addr', 'show', 'dev', this.bridge]))
    return [...r.stdout.matchAll(/inet (\S+)/g)].map(m => m[1] ?? '')
  }

  /** Pings from inside a container, a few tries (bounded); true once one answers. */
  async ping (from: string, to: string): Promise<boolean> {
    for (let i = 0; i < 5; i++) {
      if ((await this.podman(['exec', from, 'ping', '-c1', '-W1', to], 20_000)).code === 0) return true
    }
    return false
  }

  async #ids (): Promise<string[]> {
    const r = await exec(['podman', '--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), 'ps', '-aq', '--no-trunc'], this.#env, 30_000)
    return r.code === 0 ? r.stdout.split('\n').filter(l => l !== '') : []
  }

  /** Removes every container and pod, their mounts and namespaces, libcni's cache entries and the dirs. */
  async teardown (): Promise<void> {
    const root = ['--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot')]
    const inNs = ['nsenter', `--net=${join(NETNS_DIR, this.netns)}`, '--', 'podman', ...root]
    await exec([...inNs, 'pod', 'rm', '-af', '-t', '0'], this.#env, 60_000).catch(() => undefined)
    await exec([...inNs, 'rm', '-af', '-t', '0'], this.#env, 60_000).catch(() => undefined)
    for (const mount of await mountsUnder(this.dir)) await run(['umount', '-l', mount])
    await delNetns(this.netns)
    // An entry left by a DEL that failed (the agent down) would otherwise stay in libcni's cache.
    const cached = await readdir(LIBCNI_CACHE).catch(() => [] as string[])
    for (const f of cached.filter(f => [...this.#seen].some(id => f.includes(id)))) await rm(join(LIBCNI_CACHE, f), { force: true })
    // A podman cleanup started by conmon may still be writing there: a few tries, bounded.
    for (let i = 0; ; i++) {
      try {
        await rm(this.dir, { recursive: true, force: true })
        return
      } catch (err) {
        if (i >= 20) throw err
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    }
  }
}

/** Mount points at or under `dir`, deepest first. */
async function mountsUnder (dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  return text.split('\n').map(l => l.split(' ')[4] ?? '').filter(m => m === dir || m.startsWith(dir + '/')).sort((a, b) => b.length - a.length)
}

/** Runs argv with exactly `env`, at most `timeoutMs`. */
export async function exec (argv: readonly string[], env: Readonly<Record<string, string>>, timeoutMs: number): Promise<RunResult> {
  const [cmd = '', ...args] = argv
  return await new Promise((resolve) => {
    execFile(cmd, args, { env: { ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr: stderr + (err !== null && typeof err.code !== 'number' ? err.message : '') })
    })
  })
}
