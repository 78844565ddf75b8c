/**
 * A Kubernetes cluster of network+mount namespaces, built from deploy/kubernetes/weft.yaml: a
 * stand-in API server with the cluster's CA, and per node the node's root, the `kubernetes` Service
 * on it, and the DaemonSet's pod run by a Kubelet (init container, then the agent). Nodes join and
 * leave one at a time as the test says. `teardown` stops every process, node and temp dir, also after
 * a failure half-way.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir, readdir, readFile, realpath, symlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from '@weft/protocol'
import type { Client } from '@weft/protocol'
import { makeTempDir, must, newSwarmKey, removeTempDir, REPO_ROOT, SYSTEM_CNI_DIR, waitFor } from '@weft/testkit'
import type { LanHost } from '../lan.ts'
import { StandInApi } from './apiserver.ts'
import { makeCerts } from './certs.ts'
import { CNI_BIN_DIR, CNI_CONF_DIR, CniRuntime, parseConflist } from './cni-runtime.ts'
import type { Conflist } from './cni-runtime.ts'
import { readImage } from './image.ts'
import { agentContainer, readManifest } from './manifest.ts'
import type { Manifest } from './manifest.ts'
import { Kubelet, POD_DIR } from './kubelet.ts'
import type { Secrets } from './kubelet.ts'
import { NodeRoot } from './node-root.ts'

/** The `kubernetes` Service, as kubeadm's default service CIDR puts it. */
export const SERVICE = { host: '10.96.0.1', port: 443 } as const
const SERVICE_PROXY = fileURLToPath(new URL('./service-proxy.ts', import.meta.url))
/** The swarm key Secret the manifest's header tells the admin to create. */
const SWARM_SECRET = 'weft-swarm-key'

export interface ClusterOptions {
  readonly label: string
  /** Env set on the DaemonSet's agent container, as `kubectl set env` would. */
  readonly env?: Readonly<Record<string, string>>
  /** The most nodes one page of the list holds (so that listings page). */
  readonly pageSize?: number
}

export class KubeNode {
  readonly name: string
  readonly host: LanHost
  readonly root: NodeRoot
  readonly runtime: CniRuntime
  readonly kubelet: Kubelet
  /** The node's temp dir: `host/<path>` are its hostPaths. */
  readonly dir: string
  readonly client: Client
  agent: ChildProcess | null = null
  starts = 0
  readonly #m: Manifest
  proxy: ChildProcess | null = null

  constructor (name: string, host: LanHost, root: NodeRoot, kubelet: Kubelet, dir: string, m: Manifest) {
    this.name = name
    this.host = host
    this.root = root
    this.runtime = new CniRuntime(root)
    this.kubelet = kubelet
    this.dir = dir
    this.#m = m
    this.client = createClient({ socketPath: this.hostPath(agentEnv(m, 'WEFT_SOCKET', '/run/weft/weft.sock')), timeoutMs: 10_000 })
  }

  /** Where the node's `path` (a hostPath) is on the machine. */
  hostPath (path: string): string {
    return join(this.dir, 'host', path)
  }

  /** Starts (or restarts, as the kubelet does after a crash) the agent container. */
  startAgent (): void {
    this.starts++
    this.agent = this.kubelet.start(agentContainer(this.#m.pod), join(this.dir, `agent-${this.starts}.log`))
  }

  /** The readiness probe of the manifest passes. */
  async probe (): Promise<boolean> {
    const pid = this.agent?.pid
    return pid !== undefined && this.agent?.exitCode === null && await this.kubelet.probe(agentContainer(this.#m.pod), pid)
  }

  /** The agent stopped as the kubelet stops a pod (SIGTERM); resolves once it is gone. */
  async stopAgent (): Promise<void> {
    await stopProcess(this.agent, 'SIGTERM')
  }

  /** kill -9 of the agent; resolves once it is gone. */
  async killAgent (): Promise<void> {
    await stopProcess(this.agent, 'SIGKILL')
  }

  /** The conflist the runtime would pick: the first file in the node's /etc/cni/net.d. */
  async conflist (): Promise<Conflist> {
    const dir = this.hostPath(CNI_CONF_DIR)
    const file = (await readdir(dir)).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort()[0]
    if (file === undefined) throw new Error(`${this.name}: no network config in ${CNI_CONF_DIR}`)
    return parseConflist(await readFile(join(dir, file), 'utf8'), `${this.name}:${CNI_CONF_DIR}/${file}`)
  }

  /** The agent's log so far, every start. */
  async log (): Promise<string> {
    const parts = await Promise.all(Array.from({ length: this.starts }, async (_, i) => await readFile(join(this.dir, `agent-${i + 1}.log`), 'utf8').catch(() => '')))
    return parts.join('\n--- restart ---\n')
  }

  async stop (): Promise<void> {
    await stopProcess(this.agent, 'SIGTERM')
    await stopProcess(this.proxy, 'SIGTERM')
    await this.root.stop()
  }
}

export class KubeCluster {
  readonly api: StandInApi
  readonly manifest: Manifest
  readonly nodes = new Map<string, KubeNode>()
  readonly #dir: string
  readonly #options: ClusterOptions
  readonly #secrets: Secrets
  /** The DaemonSet's service account: its token and the cluster CA, as mounted in the pod. */
  readonly serviceAccount: { readonly token: string, readonly ca: string }

  private constructor (dir: string, options: ClusterOptions, api: StandInApi, manifest: Manifest, account: { token: string, ca: string }) {
    this.#dir = dir
    this.#options = options
    this.api = api
    this.manifest = manifest
    this.serviceAccount = account
    this.#secrets = { [SWARM_SECRET]: { 'swarm.key': Buffer.from(newSwarmKey()).toString('utf8') } }
  }

  static async create (options: ClusterOptions): Promise<KubeCluster> {
    const dir = await makeTempDir(`kube-${options.label}`)
    try {
      const manifest = readManifest()
      const certs = await makeCerts(dir, [SERVICE.host])
      const token = `weft-test-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
      const api = new StandInApi({ token, certs, rules: manifest.rules, dir, ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }) })
      return new KubeCluster(dir, options, api, manifest, { token, ca: certs.ca })
    } catch (err) {
      await removeTempDir(dir)
      throw err
    }
  }

  node (name: string): KubeNode {
    const n = this.nodes.get(name)
    if (n === undefined) throw new Error(`no node ${name} in the cluster`)
    return n
  }

  /**
   * A node joins: registered in the API (as its kubelet does first), its root and Service up, the
   * DaemonSet's pod laid out, the init container run; the agent is started unless `start` is false.
   */
  async join (name: string, host: LanHost, start = true): Promise<KubeNode> {
    this.api.addNode(name, [{ type: 'InternalIP', address: host.ip }, { type: 'Hostname', address: name }])
    const dir = join(this.#dir, name)
    const hostPaths = [...new Set([CNI_BIN_DIR, CNI_CONF_DIR, ...(this.manifest.pod.volumes ?? []).flatMap((v) => v.hostPath === undefined ? [] : [v.hostPath.path])])]
    for (const p of hostPaths) await mkdir(join(dir, 'host', p), { recursive: true })
    await mkdir(join(dir, 'kubelet'), { recursive: true })
    // The node's OS ships the reference CNI plugins in /opt/cni/bin, as kubeadm's packages do.
    for (const plugin of await readdir(SYSTEM_CNI_DIR)) await symlink(join(SYSTEM_CNI_DIR, plugin), join(dir, 'host', CNI_BIN_DIR, plugin))
    const toolchain = await realpath(join(REPO_ROOT, '.toolchain')).catch(() => null)
    const root = await NodeRoot.start({
      name,
      netns: host.netns,
      dir,
      binds: [...hostPaths.map((p) => [join(dir, 'host', p), p] as const), [join(dir, 'kubelet'), POD_DIR]],
      shared: [REPO_ROOT, dirname(process.execPath), ...(toolchain === null ? [] : [toolchain])]
    })
    const kubelet = new Kubelet(this.manifest, readImage(), root, {
      nodeName: name,
      hostIPs: [host.ip],
      podName: `weft-${name}`,
      namespace: this.manifest.namespace,
      serviceAccount: this.manifest.pod.serviceAccountName ?? 'default',
      service: SERVICE
    }, dir, this.#options.env ?? {})
    const node = new KubeNode(name, host, root, kubelet, dir, this.manifest)
    this.nodes.set(name, node)
    await this.#serviceOn(node)
    await kubelet.layOut(this.#secrets, this.serviceAccount)
    await kubelet.runInit()
    if (start) node.startAgent()
    return node
  }

  /** The node is deleted from the API and goes away (its agent, namespaces and pods with it). */
  async remove (name: string): Promise<void> {
    const node = this.node(name)
    this.api.deleteNode(name)
    this.nodes.delete(name)
    await node.stop()
  }

  /** Every node's agent passes the manifest's readiness probe, as the kubelet would report the pod Ready. */
  async ready (names = [...this.nodes.keys()], attempts = 300): Promise<void> {
    await waitFor(`readiness of the agents on ${names.join(', ')}`, async () => {
      for (const n of names.map((x) => this.node(x))) if (!await n.probe()) return false
      return true
    }, attempts, 200)
  }

  /**
   * `kubectl set env` on the DaemonSet and its rolling update: one node at a time, its agent stopped,
   * started with the new environment, and Ready before the next.
   */
  async rollOut (env: Readonly<Record<string, string>>): Promise<void> {
    for (const node of this.nodes.values()) {
      node.kubelet.setEnv(env)
      await node.stopAgent()
      node.startAgent()
      await this.ready([node.name])
    }
  }

  /** Every agent's log, for a failed test's message. */
  async logs (): Promise<string> {
    const parts = await Promise.all([...this.nodes.values()].map(async (n) => `=== ${n.name}\n${(await n.log()).slice(-4000)}`))
    return parts.join('\n')
  }

  async teardown (): Promise<void> {
    await Promise.all([...this.nodes.values()].map(async (n) => await n.stop()))
    this.nodes.clear()
    await this.api.close()
    await removeTempDir(this.#dir)
  }

  /** kube-proxy's part: connections to the Service address on the node carried to the API server. */
  async #serviceOn (node: KubeNode): Promise<void> {
    // A local route, not an interface address: the agents list the node's addresses, and this is none of them.
    await must(node.root.enterNet(['ip', 'route', 'add', 'local', `${SERVICE.host}/32`, 'dev', 'lo', 'table', 'local']))
    const socket = await this.api.listen(node.name)
    const [cmd = '', ...args] = node.root.enterNet([process.execPath, SERVICE_PROXY, SERVICE.host, String(SERVICE.port), socket])
    const proxy = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    node.proxy = proxy
    await new Promise<void>((resolve, reject) => {
      let err = ''
      const timer = setTimeout(() => reject(new Error(`${node.name}: the Service proxy did not listen within 20 s: ${err}`)), 20_000)
      proxy.stderr.on('data', (c: Buffer) => { err += c.toString() })
      proxy.stdout.on('data', (c: Buffer) => { if (c.toString().includes('listening')) { clearTimeout(timer); resolve() } })
      proxy.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${node.name}: the Service proxy exited (${code ?? 'signal'}): ${err}`)) })
    })
  }
}

/** A value the manifest sets on the agent container, or `fallback`. */
export function agentEnv (m: Manifest, name: string, fallback: string): string {
  return agentContainer(m.pod).env?.find((e) => e.name === name)?.value ?? fallback
}

async function stopProcess (p: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (p === null || p.exitCode !== null || p.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
    p.once('exit', () => { clearTimeout(timer); resolve() })
    p.kill(signal)
  })
}
