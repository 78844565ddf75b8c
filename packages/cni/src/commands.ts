import { ApiError } from '@weft/protocol'
import type { AllocateResponse, Attachment, CheckResponse } from '@weft/protocol'
import type { AgentCalls } from './agent-calls.ts'
import { agentErrorToCni } from './agent-errors.ts'
import type { NetConf } from './config.ts'
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
      case 'STATUS': await status(client); return null
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
    ...(conf.address === undefined ? {} : { address: conf.address })
  })
  return formatResult(conf.cniVersion, {
    address: res.address,
    prefixLength: res.prefixLength,
    ...(conf.ipam.gateway ? { gateway: gatewayOf(res, conf.name) } : {}),
    routes: conf.ipam.routes,
    dns: conf.ipam.dns
  })
}

function gatewayOf (res: AllocateResponse, network: string): string {
  if (res.gateway === undefined) throw new CniError(CniCode.internal, `the agent holds no gateway of network ${network} on this node`)
  return res.gateway
}

async function check (attachment: Attachment, conf: NetConf, client: AgentCalls): Promise<void> {
  const res = await holding(attachment, client)
  if (res === null) {
    throw new CniError(CniCode.internal, `no address is allocated to container ${attachment.containerId} interface ${attachment.ifname}`)
  }
  const held = `${res.address}/${res.prefixLength}`
  if (conf.prevAddresses !== undefined && !conf.prevAddresses.includes(held)) {
    throw new CniError(CniCode.internal, `container ${attachment.containerId} interface ${attachment.ifname} holds ${held}, but prevResult lists [${conf.prevAddresses.join(', ')}]`)
  }
  if (!conf.ipam.gateway) return
  const gateway = gatewayOf(res, conf.name)
  const other = conf.prevGateways?.find(g => g !== gateway)
  if (other !== undefined) throw new CniError(CniCode.internal, `prevResult lists the gateway ${other}, but this node's gateway of network ${conf.name} is ${gateway}`)
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
