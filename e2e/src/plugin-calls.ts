/**
 * The weft plugin exec'd as a runtime execs it, against one agent: a network config gets the agent's
 * socket when it is exec'd (the agent may start, or restart, after the config is written).
 */
import { cniEnv, execPlugin, WEFT_CNI } from '@weft/testkit'
import type { Call, PluginRun } from '@weft/testkit'

export type NetConf = Record<string, unknown>

/** A network config of type weft; `ipam` fields beside `type`, the rest at the top. */
export const netconf = (extra: NetConf = {}, ipam: NetConf = {}): NetConf =>
  ({ cniVersion: '1.1.0', name: 'e2e', type: 'weft', ipam: { type: 'weft', ...ipam }, ...extra })

export interface PluginCalls {
  readonly cni: (call: Call, conf: NetConf | string) => Promise<PluginRun>
  readonly add: (containerId: string, conf: NetConf, args?: string) => Promise<PluginRun>
  readonly del: (containerId: string, conf: NetConf) => Promise<PluginRun>
  readonly check: (containerId: string, conf: NetConf) => Promise<PluginRun>
  /** The stdin a call sends: the config, with the agent's socket unless it names one. */
  readonly stdin: (conf: NetConf | string) => string
}

export function pluginCalls (socketPath: () => string): PluginCalls {
  const stdin = (conf: NetConf | string): string => {
    if (typeof conf === 'string') return conf
    const ipam = conf.ipam
    if (typeof ipam !== 'object' || ipam === null || 'socket' in ipam) return JSON.stringify(conf)
    return JSON.stringify({ ...conf, ipam: { ...ipam, socket: socketPath() } })
  }
  const cni = async (call: Call, conf: NetConf | string): Promise<PluginRun> => await execPlugin(WEFT_CNI, cniEnv(call), stdin(conf))
  return {
    cni,
    stdin,
    add: async (containerId, conf, args) =>
      await cni({ command: 'ADD', containerId, ifname: 'eth0', netns: '/var/run/netns/none', ...(args === undefined ? {} : { args }) }, conf),
    del: async (containerId, conf) => await cni({ command: 'DEL', containerId, ifname: 'eth0' }, conf),
    check: async (containerId, conf) => await cni({ command: 'CHECK', containerId, ifname: 'eth0', netns: '/var/run/netns/none' }, conf)
  }
}
