import { ApiError } from '@weft/protocol'
import { stripPrefix } from './address.ts'
import type { AgentCalls } from './agent-calls.ts'
import { agentErrorToCni } from './agent-errors.ts'
import type { NetConf } from './config.ts'
import type { Attachment } from '@weft/protocol'
import type { ContainerInterface, Invocation } from './env.ts'
import { CniCode, CniError } from './errors.ts'
import { statusProblem } from './readiness.ts'
import { formatResult } from './result.ts'

/** What a command prints on success: a JSON document, or nothing. */
export type Output = Record<string, unknown> | null

/**
 * The gateway's reservation in the agent, one per network: it keeps the gateway address away from
 * pods, DEL never touches it, and GC keeps it.
 */
export const gatewayAttachment = (network: string): Attachment => ({ network, containerId: `weft-gateway.${network}`, ifname: 'gateway' })

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
      case 'STATUS': await status(client); return null
      case 'VERSION': throw new CniError(CniCode.internal, 'VERSION is answered without the agent')
    }
  } catch (err) {
    throw agentErrorToCni(err)
  }
}

async function add (attachment: Attachment, args: Invocation['args'], conf: NetConf, client: AgentCalls): Promise<Output> {
  const gateway = conf.ipam.gateway
  if (gateway !== undefined) await reserveGateway(gateway, conf.name, client)
  const res = await client.allocate({
    ...attachment,
    ...(args.podNamespace === undefined ? {} : { podNamespace: args.podNamespace }),
    ...(args.podName === undefined ? {} : { podName: args.podName }),
    ...(conf.address === undefined ? {} : { address: conf.address })
  })
  return formatResult(conf.cniVersion, {
    address: res.address,
    prefixLength: res.prefixLength,
    ...(gateway === undefined ? {} : { gateway }),
    routes: conf.ipam.routes,
    dns: conf.ipam.dns
  })
}

async function reserveGateway (gateway: string, network: string, client: AgentCalls): Promise<void> {
  let held: string
  try {
    held = (await client.allocate({ ...gatewayAttachment(network), address: gateway })).address
  } catch (err) {
    if (err instanceof ApiError && !err.retryable) {
      throw new CniError(CniCode.invalidConfig, `invalid ipam.gateway: ${gateway} cannot be reserved: ${err.message}`, `agent error ${err.code}`)
    }
    throw err
  }
  if (held !== gateway) {
    throw new CniError(CniCode.invalidConfig, `invalid ipam.gateway: ${gateway}, but network ${network} already reserved ${held} as its gateway`)
  }
}

async function check (attachment: Attachment, conf: NetConf, client: AgentCalls): Promise<void> {
  const held = await holding(attachment, client)
  if (held === null) {
    throw new CniError(CniCode.internal, `no address is allocated to container ${attachment.containerId} interface ${attachment.ifname}`)
  }
  if (conf.prevAddresses !== undefined && !conf.prevAddresses.includes(held)) {
    throw new CniError(CniCode.internal, `container ${attachment.containerId} interface ${attachment.ifname} holds ${held}, but prevResult lists [${conf.prevAddresses.join(', ')}]`)
  }
  const gateway = conf.ipam.gateway
  if (gateway !== undefined && stripPrefix(await holding(gatewayAttachment(conf.name), client) ?? '') !== gateway) {
    throw new CniError(CniCode.internal, `the gateway ${gateway} of network ${conf.name} is not reserved in the agent`)
  }
}

/** The CIDR an attachment holds, or null when it holds none. */
async function holding (attachment: Attachment, client: AgentCalls): Promise<string | null> {
  try {
    const res = await client.check(attachment)
    return `${res.address}/${res.prefixLength}`
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unknown-attachment') return null
    throw err
  }
}

async function gc (conf: NetConf, client: AgentCalls): Promise<void> {
  const keep = conf.ipam.gateway === undefined ? conf.validAttachments : [...conf.validAttachments, gatewayAttachment(conf.name)]
  await client.gc({ network: conf.name, valid: keep.map(({ containerId, ifname }) => ({ containerId, ifname })) })
}

/** 0 when the agent can take an ADD now; 50 when it is unreachable, not ready or out of space. */
async function status (client: AgentCalls): Promise<void> {
  let st
  try {
    st = await client.status()
  } catch (err) {
    throw new CniError(CniCode.notAvailable, agentErrorToCni(err).message)
  }
  const reason = statusProblem(st)
  if (reason !== null) throw new CniError(CniCode.notAvailable, reason, st.status)
}
