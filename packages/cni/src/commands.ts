import { ApiError } from '@weft/protocol'
import type { Attachment, CheckResponse, PoolAddress } from '@weft/protocol'
import type { AgentCalls } from './agent-calls.ts'
import { agentErrorToCni } from './agent-errors.ts'
import { familyOf, v6CoverExcept } from './address.ts'
import type { NetConf, Route } from './config.ts'
import type { ContainerInterface, Invocation } from './env.ts'
import { CniCode, CniError } from './errors.ts'
import { statusProblem } from './readiness.ts'
import { formatResult } from './result.ts'

/** What a command prints on success: a JSON document, or nothing. */
export type Output = Record<string, unknown> | null

/** Runs one CNI command (all but VERSION) with the agent's operations. Every failure is a CniError. */
export async function runCommand (inv: Invocation, conf: NetConf, client: AgentCalls): Promise<Output> {
  // The env names the container and interface; the config's name is the network they attach to.
  const on = (a: ContainerInterface): Attachment => ({ network: conf.name, ...a })
  try {
    switch (inv.command) {
      case 'ADD': return await add(on(inv.attachment), inv.args, conf, client)
      case 'DEL': await client.release(on(inv.attachment)); return null
      case 'CHECK': await check(on(inv.attachment), conf, client); return null
      case 'GC': await gc(conf, client); return null
      case 'STATUS': await status(client, conf.ipam.pools); return null
      case 'VERSION': throw new CniError(CniCode.internal, 'VERSION is answered without the agent')
    }
  } catch (err) {
    throw agentErrorToCni(err)
  }
}

async function add (attachment: Attachment, args: Invocation['args'], conf: NetConf, client: AgentCalls): Promise<Output> {
  const res = await client.allocate({
    ...attachment,
    gateway: conf.ipam.gateway,
    ...(args.podNamespace === undefined ? {} : { podNamespace: args.podNamespace }),
    ...(args.podName === undefined ? {} : { podName: args.podName }),
    ...(conf.ipam.pools === undefined ? {} : { pools: conf.ipam.pools }),
    ...(conf.addresses.length === 0 ? {} : { addresses: conf.addresses })
  })
  try {
    return formatResult(conf.cniVersion, {
      ips: res.addresses.map(a => ({
        address: a.address,
        prefixLength: a.prefixLength,
        ...(conf.ipam.gateway ? { gateway: gatewayOf(a, conf.name) } : {})
      })),
      routes: conf.ipam.gateway ? [...conf.ipam.routes, ...v6RangeRoutes(res.addresses)] : conf.ipam.routes,
      dns: conf.ipam.dns
    })
  } catch (err) {
    // All or nothing: a result the version cannot carry holds nothing either.
    await client.release(attachment)
    throw err
  }
}

/**
 * IPv6 has no proxy ARP: the node's bridge answers no neighbour solicitation for a pod on another
 * node, so a pod that sees the pool's whole range on-link could not reach it. These routes take the
 * range, all but the gateway, through the gateway instead (one per prefix bit below the range's).
 */
function v6RangeRoutes (addresses: readonly PoolAddress[]): Route[] {
  return addresses.flatMap(({ address, range, gateway }) => gateway === undefined || familyOf(address) !== 6
    ? []
    : v6CoverExcept(range, gateway).map(dst => ({ dst, gw: gateway })))
}

function gatewayOf (a: PoolAddress, network: string): string {
  if (a.gateway === undefined) throw new CniError(CniCode.internal, `the agent holds no gateway of network ${network} in pool ${a.pool} on this node`)
  return a.gateway
}

async function check (attachment: Attachment, conf: NetConf, client: AgentCalls): Promise<void> {
  const res = await holding(attachment, client)
  const where = `container ${attachment.containerId} interface ${attachment.ifname}`
  if (res === null || res.addresses.length === 0) throw new CniError(CniCode.internal, `no address is allocated to ${where}`)
  const missing = conf.ipam.pools?.filter(p => !res.addresses.some(a => a.pool === p)) ?? []
  if (missing.length > 0) throw new CniError(CniCode.internal, `${where} holds no address of pool ${missing.join(', ')}`)
  const held = res.addresses.map(a => `${a.address}/${a.prefixLength}`)
  const prev = conf.prevAddresses
  const unlisted = prev === undefined ? undefined : held.find(h => !prev.includes(h))
  if (prev !== undefined && unlisted !== undefined) {
    throw new CniError(CniCode.internal, `${where} holds ${unlisted}, but prevResult lists [${prev.join(', ')}]`)
  }
  if (!conf.ipam.gateway) return
  const gateways = res.addresses.map(a => gatewayOf(a, conf.name))
  const other = conf.prevGateways?.find(g => !gateways.includes(g))
  if (other !== undefined) {
    throw new CniError(CniCode.internal, `prevResult lists the gateway ${other}, but this node's gateway${gateways.length === 1 ? '' : 's'} of network ${conf.name} ${gateways.length === 1 ? 'is' : 'are'} ${gateways.join(', ')}`)
  }
}

/** What an attachment holds, or null when it holds nothing. */
async function holding (attachment: Attachment, client: AgentCalls): Promise<CheckResponse | null> {
  try {
    return await client.check(attachment)
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unknown-attachment') return null
    throw err
  }
}

async function gc (conf: NetConf, client: AgentCalls): Promise<void> {
  // The agent keeps the node's gateways itself.
  await client.gc({ network: conf.name, valid: conf.validAttachments.map(({ containerId, ifname }) => ({ containerId, ifname })) })
}

/** 0 when the agent can take an ADD now; 50 when it is unreachable, not ready or out of space. */
async function status (client: AgentCalls, pools: readonly string[] | undefined): Promise<void> {
  let st
  try {
    st = await client.status()
  } catch (err) {
    throw new CniError(CniCode.notAvailable, agentErrorToCni(err).message)
  }
  const problem = statusProblem(st, pools)
  if (problem !== null) throw new CniError(CniCode.notAvailable, problem.reason, problem.status)
}
