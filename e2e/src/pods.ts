/**
 * Pods on nodes as a runtime makes them: a network namespace per pod, the real `bridge` plugin run in
 * the node's namespace with weft as its IPAM, the bridge's address the gateway the node's agent
 * reserves from its own range. Plus the
 * checks the routing tests make across nodes: ping, a TCP exchange, and weft's routes on a node.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WEFT_PROTO } from '@weft/routes'
import { addNetns, buildPlugin, cniEnv, delNetns, execPlugin, inNetns, must, resultAddresses, run, SYSTEM_CNI_DIR, uniqueName, WEFT_CNI, which } from '@weft/testkit'
import type { PluginRun } from '@weft/testkit'

export interface PodNode {
  readonly netns: string
  readonly socketPath: string
  /** The pods' MTU (the conflist's `mtu`); the plugin's default when undefined. */
  readonly mtu?: number
}

export interface Pod {
  readonly netns: string
  /** The first address of the result (without its prefix). */
  readonly address: string
  /** Every address of the result, one per pool (both families on a dual-stack agent). */
  readonly addresses: readonly string[]
  /** The ADD's result, which a runtime caches for CHECK and DEL. */
  readonly result: Record<string, unknown>
}

export class Pods {
  readonly #pluginDir: string
  readonly #made: string[] = []
  readonly #ip: string

  private constructor (pluginDir: string, ip: string) {
    this.#pluginDir = pluginDir
    this.#ip = ip
  }

  static async create (): Promise<Pods> {
    await buildPlugin()
    const dir = await mkdtemp(join(tmpdir(), 'weft-cni-bin-'))
    await symlink(WEFT_CNI, join(dir, 'weft'))
    return new Pods(dir, await which('ip') ?? 'ip')
  }

  /** A new pod's network namespace (removed by `teardown`). */
  async sandbox (label: string): Promise<string> {
    const netns = uniqueName(label)
    await addNetns(netns)
    this.#made.push(netns)
    return netns
  }

  /** Removes a pod's namespace, its end of the veth with it (as a runtime removes a failed sandbox). */
  async removeSandbox (netns: string): Promise<void> {
    await delNetns(netns)
    this.#made.splice(this.#made.indexOf(netns), 1)
  }

  /** ADD of a new pod on `node`; throws with the plugin's output if it fails. */
  async add (node: PodNode, label: string): Promise<Pod> {
    const netns = await this.sandbox(label)
    const r = await this.run('ADD', node, netns)
    const addresses = resultAddresses(r.json).map(a => a.split('/')[0] ?? a)
    const address = addresses[0]
    if (r.code !== 0 || r.json === undefined || address === undefined) throw new Error(`bridge ADD on ${node.netns} failed (${r.code}): ${r.stdout}${r.stderr}`)
    return { netns, address, addresses, result: r.json }
  }

  /** CHECK of a pod with its cached result: the plugin's run, for the caller to judge. */
  async check (node: PodNode, pod: Pod): Promise<PluginRun> {
    return await this.run('CHECK', node, pod.netns, pod.result)
  }

  /** One command of the `bridge` plugin for the pod in `netns`, run in the node's namespace. */
  async run (command: 'ADD' | 'CHECK' | 'DEL', node: PodNode, netns: string, prevResult?: Record<string, unknown>): Promise<PluginRun> {
    const conf = {
      cniVersion: '1.0.0',
      name: 'weft-routes',
      type: 'bridge',
      bridge: 'weft0',
      isGateway: true,
      ipMasq: false,
      ...(node.mtu === undefined ? {} : { mtu: node.mtu }),
      ipam: { type: 'weft', socket: node.socketPath, routes: [{ dst: '0.0.0.0/0' }] },
      ...(prevResult === undefined ? {} : { prevResult })
    }
    const env = cniEnv({ command, containerId: `ctr-${netns}`, ifname: 'eth0', netns: `/var/run/netns/${netns}`, path: `${SYSTEM_CNI_DIR}:${this.#pluginDir}` })
    return await execPlugin([this.#ip, 'netns', 'exec', node.netns, join(SYSTEM_CNI_DIR, 'bridge')], env, JSON.stringify(conf))
  }

  async teardown (): Promise<void> {
    for (const ns of this.#made.splice(0)) await delNetns(ns)
    await rm(this.#pluginDir, { recursive: true, force: true })
  }
}

/** One ping from `netns` to `to` answered, trying up to `attempts` times (the first may wait for ARP). */
export async function pings (netns: string, to: string, attempts = 5): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if ((await run(inNetns(netns, ['ping', '-c1', '-W1', to]))).code === 0) return true
  }
  return false
}

/** A TCP server in `server`'s namespace answers a client in `client`'s; returns what the client read. */
export async function tcpExchange (server: Pod, client: Pod, port = 7777): Promise<string> {
  const serve = `require('net').createServer(s => s.end('hello from ' + process.argv[1])).listen(${port}, () => console.log('listening'))`
  const child = spawn('ip', ['netns', 'exec', server.netns, process.execPath, '-e', serve, server.address], { stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the TCP server did not start within 10 s')), 10_000)
      child.stdout.on('data', (c: Buffer) => { if (c.toString().includes('listening')) { clearTimeout(timer); resolve() } })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`the TCP server exited with ${code}`)) })
    })
    const read = `const s = require('net').connect(${port}, process.argv[1]); let d = ''; s.setEncoding('utf8'); s.on('data', c => { d += c }); s.on('end', () => console.log(d)); s.on('error', e => { console.error(e.message); process.exit(1) })`
    const r = await run(inNetns(client.netns, [process.execPath, '-e', read, server.address]), 15_000)
    if (r.code !== 0) throw new Error(`the TCP client failed: ${r.stderr.trim()}`)
    return r.stdout.trim()
  } finally {
    child.kill('SIGKILL')
  }
}

export interface WeftRoute {
  readonly dst: string
  readonly gateway?: string
  readonly dev?: string
}

/** weft's routes on a node (those marked with its protocol number). */
export async function weftRoutes (netns: string): Promise<WeftRoute[]> {
  const out = await must(['ip', '-n', netns, '-json', 'route', 'show', 'proto', String(WEFT_PROTO)])
  return out.trim() === '' ? [] : JSON.parse(out) as WeftRoute[]
}
