/**
 * A container runtime's CNI side (libcni's network-list semantics), run on a node: the pod's network
 * namespace made under the node's /run/netns, then every plugin of the conflist in order from the
 * node's /opt/cni/bin, each given the previous plugin's result as `prevResult`. A failed ADD is
 * followed by a DEL of the whole chain in reverse, as the runtime does; DEL and CHECK get the cached
 * result of the ADD.
 */
import { execPlugin, must } from '@weft/testkit'
import type { PluginRun } from '@weft/testkit'
import type { NodeRoot } from './node-root.ts'

/** The kubelet's and runtimes' default CNI directories. */
export const CNI_BIN_DIR = '/opt/cni/bin'
export const CNI_CONF_DIR = '/etc/cni/net.d'
/** A runtime's own environment, which the plugins inherit (the bridge plugin runs iptables). */
const RUNTIME_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export type Json = Record<string, unknown>

export interface Conflist {
  readonly cniVersion: string
  readonly name: string
  readonly plugins: readonly Json[]
}

export class CniError extends Error {
  override readonly name = 'CniError'
  readonly run: PluginRun
  constructor (message: string, run: PluginRun) {
    super(message)
    this.run = run
  }
}

export interface Attachment {
  readonly containerId: string
  /** The netns name under the node's /run/netns. */
  readonly netns: string
  readonly ifname: string
  readonly network: Conflist
  /** The chain's final result: what the runtime caches. */
  readonly result: Json
}

/** The config one plugin of the list gets: the list's name and version, and the previous result. */
function pluginConf (list: Conflist, plugin: Json, prevResult: Json | undefined): string {
  return JSON.stringify({ ...plugin, cniVersion: list.cniVersion, name: list.name, ...(prevResult === undefined ? {} : { prevResult }) })
}

export class CniRuntime {
  readonly #node: NodeRoot

  constructor (node: NodeRoot) {
    this.#node = node
  }

  /** A fresh network namespace for a pod on the node. */
  async sandbox (name: string): Promise<void> {
    await must(this.#node.enter(['ip', 'netns', 'add', name]))
    await must(this.#node.enter(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']))
  }

  async removeSandbox (name: string): Promise<void> {
    await must(this.#node.enter(['ip', 'netns', 'del', name]))
  }

  /** ADD through the chain; on a failure, DEL of the chain, then the error of the plugin that failed. */
  async add (list: Conflist, containerId: string, netns: string, ifname: string): Promise<Attachment> {
    let prev: Json | undefined
    for (const plugin of list.plugins) {
      const r = await this.#exec('ADD', list, plugin, prev, containerId, netns, ifname)
      if (r.code !== 0 || r.json === undefined) {
        // The runtime cleans up; a DEL that fails too is reported with the ADD's error, not instead of it.
        const cleanup = await this.del({ containerId, netns, ifname, network: list, result: {} }, false).then(() => '', (err: Error) => `; then ${err.message}`)
        throw new CniError(`ADD ${list.name}/${String(plugin.type)} for ${containerId} failed (${r.code}): ${r.stdout}${r.stderr}${cleanup}`, r)
      }
      prev = r.json
    }
    return { containerId, netns, ifname, network: list, result: prev ?? {} }
  }

  /** DEL in reverse order, each plugin with the cached result; `cached` false after a failed ADD (nothing cached). */
  async del (a: Attachment, cached = true): Promise<void> {
    for (const plugin of [...a.network.plugins].reverse()) {
      const r = await this.#exec('DEL', a.network, plugin, cached ? a.result : undefined, a.containerId, a.netns, a.ifname)
      if (r.code !== 0) throw new CniError(`DEL ${a.network.name}/${String(plugin.type)} for ${a.containerId} failed (${r.code}): ${r.stdout}${r.stderr}`, r)
    }
  }

  /** CHECK in order, each plugin with the cached result; the runs, for the caller to judge. */
  async check (a: Attachment): Promise<PluginRun[]> {
    const runs: PluginRun[] = []
    for (const plugin of a.network.plugins) runs.push(await this.#exec('CHECK', a.network, plugin, a.result, a.containerId, a.netns, a.ifname))
    return runs
  }

  async #exec (command: string, list: Conflist, plugin: Json, prev: Json | undefined, containerId: string, netns: string, ifname: string): Promise<PluginRun> {
    const type = plugin.type
    if (typeof type !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(type)) throw new Error(`${list.name}: a plugin without a valid type: ${JSON.stringify(plugin)}`)
    const env = {
      PATH: RUNTIME_PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: `/run/netns/${netns}`,
      CNI_IFNAME: ifname,
      CNI_PATH: CNI_BIN_DIR
    }
    return await execPlugin(this.#node.enter([`${CNI_BIN_DIR}/${type}`]), env, pluginConf(list, plugin, prev), 90_000)
  }
}

/** Parses a conflist's text, naming what is wrong. */
export function parseConflist (text: string, where: string): Conflist {
  const v = JSON.parse(text) as Partial<Conflist>
  if (typeof v.cniVersion !== 'string' || typeof v.name !== 'string' || !Array.isArray(v.plugins) || v.plugins.length === 0) {
    throw new Error(`${where}: not a CNI network list (cniVersion, name and a non-empty plugins list)`)
  }
  return v as Conflist
}
