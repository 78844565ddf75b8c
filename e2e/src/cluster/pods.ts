/**
 * Pods on the cluster's nodes, and what the scenarios ask of them: made by the node's CNI runtime
 * with the installed conflist (or a secondary network's), reached by ping and TCP from other pods and
 * from the nodes' hosts. Every probe is bounded in time.
 */
import { spawn } from 'node:child_process'
import { must, resultAddress, run, sleep } from '@weft/testkit'
import { CniError } from './cni-runtime.ts'
import type { Attachment, Conflist } from './cni-runtime.ts'
import type { KubeNode } from './cluster.ts'

export interface Pod {
  readonly node: KubeNode
  /** Its network namespace under the node's /run/netns, also its container id. */
  readonly name: string
  readonly ip: string
  readonly attachment: Attachment
}

let made = 0

/** CNI's "try again later". */
const TRY_AGAIN = 11
/** The kubelet retries a pod whose sandbox failed, at most this many times... */
const SANDBOX_ATTEMPTS = 10
/** ...and gives up on the pod after this long, however many attempts are left. */
const SANDBOX_DEADLINE_MS = 90_000

/**
 * A pod on `node`, attached to `network` (default: the conflist the init container installed). A
 * failed ADD (undone by the chain's DEL) is retried as the kubelet retries the pod's sandbox, at most
 * `attempts` times within a bounded time; every failure that is retried is printed, so a test that
 * passes on a retry still shows it.
 */
export async function makePod (node: KubeNode, network?: Conflist, ifname = 'eth0', attempts = SANDBOX_ATTEMPTS): Promise<Pod> {
  const list = network ?? await node.conflist()
  const name = `pod${process.pid.toString(36)}x${++made}`
  await node.runtime.sandbox(name)
  try {
    const attachment = await addRetrying(node, list, name, ifname, attempts)
    const cidr = resultAddress(attachment.result)
    if (cidr === undefined) throw new Error(`${node.name}: the ${list.name} chain's result for ${name} has no address: ${JSON.stringify(attachment.result)}`)
    return { node, name, ip: cidr.split('/')[0]!, attachment }
  } catch (err) {
    await node.runtime.removeSandbox(name)
    throw err
  }
}

async function addRetrying (node: KubeNode, list: Conflist, name: string, ifname: string, attempts: number): Promise<Attachment> {
  const deadline = performance.now() + SANDBOX_DEADLINE_MS
  for (let attempt = 1; ; attempt++) {
    try {
      return await node.runtime.add(list, name, name, ifname)
    } catch (err) {
      if (!(err instanceof CniError) || attempt >= attempts || performance.now() > deadline) throw err
      // "Try again later" (the agent not up yet) is expected at a node's start; anything else is worth seeing.
      if (err.run.json?.code !== TRY_AGAIN) console.warn(`${node.name}: pod ${name}: ADD failed, retried as the kubelet does: ${err.message}`)
      await sleep(1_000)
    }
  }
}

/** What the runtime does when a pod goes: DEL of the chain, then its namespace. */
export async function removePod (pod: Pod): Promise<void> {
  await pod.node.runtime.del(pod.attachment)
  await pod.node.runtime.removeSandbox(pod.name)
}

/** argv run inside the pod. */
export const inPod = (pod: Pod, argv: readonly string[]): string[] => pod.node.root.enter(['ip', 'netns', 'exec', pod.name, ...argv])

/** One ping from the pod (or from the node's host when `from` is a node) answered within 2 s. */
export async function pings (from: Pod | KubeNode, ip: string): Promise<boolean> {
  const argv = ['ping', '-c', '1', '-W', '2', ip]
  return (await run('attachment' in from ? inPod(from, argv) : from.root.enter(argv), 10_000)).code === 0
}

/** Every ordered pair of pods on different nodes that does not ping, as "a -> b" lines. */
export async function unreachablePairs (pods: readonly Pod[]): Promise<string[]> {
  const pairs = pods.flatMap((a) => pods.filter((b) => b.node !== a.node).map((b) => [a, b] as const))
  const results = await Promise.all(pairs.map(async ([a, b]) => await pings(a, b.ip)))
  return pairs.filter((_, i) => results[i] !== true).map(([a, b]) => `${a.node.name}/${a.ip} -> ${b.node.name}/${b.ip}`)
}

/** A TCP connection from `client` to a listener in `server`: true when the server's greeting arrives. */
export async function tcpCrosses (client: Pod, server: Pod, port = 7777): Promise<boolean> {
  const greeting = `weft-${server.name}`
  const listen = `require('net').createServer((s) => s.end(${JSON.stringify(greeting)})).listen(${port}, () => console.log('up'))`
  const [cmd = '', ...args] = inPod(server, [process.execPath, '-e', listen])
  const listener = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the TCP listener did not start within 20 s')), 20_000)
      listener.stdout.on('data', () => { clearTimeout(timer); resolve() })
      listener.once('exit', () => { clearTimeout(timer); reject(new Error('the TCP listener exited')) })
    })
    const dial = `const s = require('net').connect(${port}, ${JSON.stringify(server.ip)}); let d = ''; s.on('data', (c) => { d += c }); s.on('end', () => { process.stdout.write(d) }); s.setTimeout(5000, () => process.exit(2))`
    const r = await run(inPod(client, [process.execPath, '-e', dial]), 15_000)
    return r.code === 0 && r.stdout === greeting
  } finally {
    listener.kill('SIGKILL')
  }
}

/** Every address the node's host holds (its LAN address, its bridge's gateway, ...). */
export async function hostAddresses (node: KubeNode): Promise<string[]> {
  const links = JSON.parse(await must(node.root.enter(['ip', '-json', 'addr', 'show']))) as Array<{ addr_info?: Array<{ local?: string }> }>
  return links.flatMap((l) => (l.addr_info ?? []).flatMap((a) => a.local === undefined ? [] : [a.local]))
}

export interface Route { dst: string, gateway?: string, dev?: string }

/** The route the node's kernel picks for `ip`. */
export async function routeTo (node: KubeNode, ip: string): Promise<Route | undefined> {
  const r = await run(node.root.enter(['ip', '-json', 'route', 'get', ip]))
  return r.code === 0 ? (JSON.parse(r.stdout) as Route[])[0] : undefined
}
