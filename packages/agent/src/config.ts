/**
 * The agent's configuration, parsed from an environment object. Pure: no I/O, no process.env.
 * Every bad value throws a ConfigError naming the variable, the value and what was expected.
 */
import { isIP } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { asPeerId, canonicalAddress } from '@weft/ring'
import { ROUTING_MODES } from '@weft/routes'
import type { RoutingMode } from '@weft/routes'
import type { InitMode, Timeouts } from '@weft/ring'
import { ConfigError } from './errors.ts'
import { isLoopback } from './kube.ts'
import { interfaceNameProblem, parsePools } from './pools-config.ts'
import type { PoolsConfig } from './pools-config.ts'
import { DEFAULT_SOCKET, fieldProblem } from '@weft/protocol'

export const DEFAULT_PORT = 6783
export const DEFAULT_DATA_DIR = '/var/lib/weft'
/** The network name of the shipped conflist. */
export const DEFAULT_MIGRATE_NETWORK = 'weft'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface HostPort {
  readonly host: string
  readonly port: number
}

export interface AgentConfig {
  /** The pools served (IPALLOC_RANGE's, then WEFT_POOLS'), and which an allocation naming none uses. */
  readonly pools: PoolsConfig
  readonly init: InitMode
  /** Multiaddrs of other agents to keep connected to. */
  readonly peers: readonly string[]
  /** Multiaddrs to listen on. */
  readonly listen: readonly string[]
  readonly dataDir: string
  readonly socketPath: string
  readonly swarmKeyFile: string | null
  readonly nickname: string
  readonly metricsAddr: HostPort | null
  readonly logLevel: LogLevel
  /** Length of one core tick: how often the core looks at its timers, not how long any of them is. */
  readonly tickMs: number
  /** While idle, how often the core's clock wakes to run the ticks it owes (ticker.ts); at most tickMs: never slows. */
  readonly idleWakeMs: number
  /** The core's protocol timeouts (the request's is requestTimeoutMs). */
  readonly protocolTimeoutsMs: ProtocolTimeoutsMs
  /** How long a socket request may wait for the core before it is answered retryable. */
  readonly requestTimeoutMs: number
  /** Base interval of the reconnect loop to WEFT_PEERS. */
  readonly reconnectMs: number
  /** How often every connection is pinged; one that stops answering is dropped and the peer marked unreachable. */
  readonly pingMs: number
  /** The Kubernetes Node list and what reads it; null when nothing does. */
  readonly kube: KubeConfig | null
  /** The CNI network given to allocations stored before attachments had one (a schema-1 store). */
  readonly migrateNetwork: string
  readonly routing: RoutingConfig
}

export interface RoutingConfig {
  readonly mode: RoutingMode
  /**
   * WEFT_NODE_IP in canonical form: one address, or one per family (the first is the tunnel's local
   * end); empty: found at start from the routes (routing on) or none.
   */
  readonly nodeIps: readonly string[]
  /** The pod bridge of every pool that names none in WEFT_POOLS (the shipped conflist's `bridge`). */
  readonly bridge: string
  /** How often the kernel is compared with the plan, to repair drift. */
  readonly intervalMs: number
}

export interface KubeConfig {
  readonly api: URL
  /** The service account mount: `token` and `ca.crt`. */
  readonly secretsDir: string
  /** How often the Node list is read (jittered). */
  readonly pollMs: number
  /** Dial every node's agent at its node address and the mesh port. */
  readonly discovery: boolean
  /** Take over the peers of deleted nodes. */
  readonly reclaim: boolean
  /** The mesh port of every agent: the port of the first WEFT_LISTEN address. */
  readonly meshPort: number
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

export type Env = Readonly<Record<string, string | undefined>>

/** What the environment cannot say but the defaults need. */
export interface ConfigDefaults {
  readonly hostname: string
}

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/
/** Long enough for any Kubernetes node name (253), which the DaemonSet uses. */
const NICKNAME = /^[\x21-\x7e]{1,253}$/

export function parseConfig (env: Env, defaults: ConfigDefaults): AgentConfig {
  const peers = listOf(env, 'WEFT_PEERS').map(p => parseAddress('WEFT_PEERS', p, { allowDns: true, allowPeerId: true }))
  const listen = listOf(env, 'WEFT_LISTEN', `/ip4/0.0.0.0/tcp/${DEFAULT_PORT}`)
    .map(a => parseAddress('WEFT_LISTEN', a, { allowDns: false, allowPeerId: false }))
  const discovery = onInPod(env, 'WEFT_DISCOVERY', 'dial the agent on every node of the Kubernetes Node list')
  const init = parseInit(env, peers.length, discovery)
  return {
    pools: parsePools(env),
    init,
    peers,
    listen,
    dataDir: absolutePath(env, 'WEFT_DATA_DIR', DEFAULT_DATA_DIR),
    socketPath: socketPath(env),
    swarmKeyFile: setting(env, 'WEFT_SWARM_KEY_FILE') === undefined ? null : absolutePath(env, 'WEFT_SWARM_KEY_FILE', ''),
    nickname: nickname(env, defaults.hostname),
    metricsAddr: metricsAddr(setting(env, 'WEFT_METRICS_ADDR')),
    logLevel: logLevel(env),
    tickMs: integer(env, 'WEFT_TICK_MS', 100, 1, 60_000),
    idleWakeMs: integer(env, 'WEFT_IDLE_WAKE_MS', 1_000, 1, 60_000),
    protocolTimeoutsMs: PROTOCOL_TIMEOUTS_MS,
    requestTimeoutMs: integer(env, 'WEFT_REQUEST_TIMEOUT_MS', 30_000, 10, 3_600_000),
    reconnectMs: integer(env, 'WEFT_RECONNECT_MS', 2_000, 10, 600_000),
    pingMs: integer(env, 'WEFT_PING_MS', 10_000, 1_000, 600_000),
    kube: parseKube(env, discovery, init.kind === 'kubernetes', listen),
    routing: parseRouting(env),
    migrateNetwork: migrateNetwork(env)
  }
}

/** Every core timeout but the request's, which the socket's WEFT_REQUEST_TIMEOUT_MS bounds. */
export type ProtocolTimeoutsMs = { readonly [K in Exclude<keyof Timeouts, 'request'>]: number }

/** The core's DEFAULT_TIMEOUTS at the default 100 ms tick; Timeouts says what each bounds. */
export const PROTOCOL_TIMEOUTS_MS: ProtocolTimeoutsMs = {
  ask: 400, ballot: 1_200, grace: 600, initWait: 3_000, gossip: 800, freeReport: 400, takeover: 6_000, backoff: 400, nodeWait: 5_000, rebalance: 800
}

/** The one place milliseconds become the core's ticks: each rounded down, at least one tick. */
export function timeoutsInTicks (config: Pick<AgentConfig, 'tickMs' | 'requestTimeoutMs' | 'protocolTimeoutsMs'>): Timeouts {
  const ticks = (ms: number): number => Math.max(1, Math.floor(ms / config.tickMs))
  const t = config.protocolTimeoutsMs
  return {
    request: ticks(config.requestTimeoutMs),
    ask: ticks(t.ask),
    ballot: ticks(t.ballot),
    grace: ticks(t.grace),
    initWait: ticks(t.initWait),
    gossip: ticks(t.gossip),
    freeReport: ticks(t.freeReport),
    takeover: ticks(t.takeover),
    backoff: ticks(t.backoff),
    nodeWait: ticks(t.nodeWait),
    rebalance: ticks(t.rebalance)
  }
}

/** The init mode as IPALLOC_INIT spells it, for status lines. */
export function formatInit (init: InitMode): string {
  switch (init.kind) {
    case 'consensus': return `consensus=${init.count}`
    case 'seed': return `seed=${init.peers.join(',')}`
    case 'observer': return 'observer'
    case 'kubernetes': return 'kubernetes'
  }
}

/** Unset: `kubernetes` where the peers come from the Node list, else consensus over WEFT_PEERS. */
function parseInit (env: Env, peerCount: number, discovery: boolean): InitMode {
  const value = setting(env, 'IPALLOC_INIT')
  if (value === undefined) return discovery ? { kind: 'kubernetes' } : { kind: 'consensus', count: 1 + peerCount }
  const expected = '"kubernetes", "consensus", "consensus=<N>", "seed=<peer id>,<peer id>..." or "observer"'
  if (value.trim() === 'kubernetes') return { kind: 'kubernetes' }
  const eq = value.indexOf('=')
  const mode = (eq < 0 ? value : value.slice(0, eq)).trim()
  const arg = eq < 0 ? null : value.slice(eq + 1).trim()
  if (mode === 'observer' && arg === null) return { kind: 'observer' }
  if (mode === 'consensus') {
    if (arg === null) return { kind: 'consensus', count: 1 + peerCount }
    if (!/^[1-9][0-9]{0,5}$/.test(arg)) throw new ConfigError('IPALLOC_INIT', value, 'consensus=<N> with N a whole number of peers, at least 1')
    return { kind: 'consensus', count: Number(arg) }
  }
  if (mode === 'seed' && arg !== null) {
    const ids = arg.split(/[\s,]+/).filter(s => s !== '')
    if (ids.length === 0) throw new ConfigError('IPALLOC_INIT', value, 'seed=<peer id>,<peer id>... with at least one peer id')
    for (const id of ids) {
      if (!isPeerId(id)) throw new ConfigError('IPALLOC_INIT', value, `seed= followed by libp2p peer ids; "${id}" is not one`)
    }
    return { kind: 'seed', peers: [...new Set(ids)].sort().map(asPeerId) }
  }
  throw new ConfigError('IPALLOC_INIT', value, expected)
}

/** The kubelet puts the API server's address in every pod's environment. */
const inPod = (env: Env): boolean => setting(env, 'KUBERNETES_SERVICE_HOST') !== undefined

/** `kubernetes` (on) by default inside a pod, `off` elsewhere. */
function onInPod (env: Env, name: string, meaning: string): boolean {
  const value = setting(env, name) ?? (inPod(env) ? 'kubernetes' : 'off')
  if (value !== 'off' && value !== 'kubernetes') throw new ConfigError(name, value, `"kubernetes" (${meaning}) or "off"`)
  return value === 'kubernetes'
}

/** Null when neither discovery, reclaim nor init reads the Node list. */
function parseKube (env: Env, discovery: boolean, init: boolean, listen: readonly string[]): KubeConfig | null {
  const reclaim = onInPod(env, 'WEFT_RECLAIM', 'take over the peers of deleted nodes')
  if (!discovery && !reclaim && !init) return null
  const port = multiaddr(listen[0] ?? '').getComponents().find(c => c.name === 'tcp')?.value
  return {
    api: kubeApi(env, inPod(env)),
    secretsDir: absolutePath(env, 'WEFT_KUBE_SECRETS_DIR', SERVICE_ACCOUNT_DIR),
    pollMs: integer(env, 'WEFT_KUBE_POLL_MS', 10_000, 100, 3_600_000),
    discovery,
    reclaim,
    meshPort: Number(port ?? DEFAULT_PORT)
  }
}

/** `vxlan` by default inside a pod (works on any network between nodes), `none` elsewhere. */
function parseRouting (env: Env): RoutingConfig {
  const value = setting(env, 'WEFT_ROUTING') ?? (inPod(env) ? 'vxlan' : 'none')
  const mode = ROUTING_MODES.find(m => m === value)
  if (mode === undefined) throw new ConfigError('WEFT_ROUTING', value, '"direct" (nodes on one L2 segment), "vxlan" (any IP network) or "none" (IPAM only)')
  const ip = setting(env, 'WEFT_NODE_IP')
  const nodeIps = ip === undefined ? [] : ip.split(',').map(a => canonicalAddress(a.trim()))
  const expected = 'this node\'s IPv4 or IPv6 address, or one of each comma-separated, e.g. 192.168.1.10 or 192.168.1.10,2001:db8::10 (status.hostIPs in Kubernetes)'
  if (ip !== undefined && (nodeIps.some(a => a === null) || nodeIps.length > 2)) throw new ConfigError('WEFT_NODE_IP', ip, expected)
  if (nodeIps.length === 2 && nodeIps[0]!.includes(':') === nodeIps[1]!.includes(':')) throw new ConfigError('WEFT_NODE_IP', ip ?? '', `${expected}: two addresses must be of different families`)
  const bridge = setting(env, 'WEFT_BRIDGE') ?? 'weft0'
  const bad = interfaceNameProblem(bridge)
  if (bad !== null) throw new ConfigError('WEFT_BRIDGE', bridge, bad)
  return { mode, nodeIps: nodeIps.flatMap(a => a === null ? [] : [a]), bridge, intervalMs: integer(env, 'WEFT_ROUTE_INTERVAL_MS', 10_000, 100, 3_600_000) }
}

function kubeApi (env: Env, pod: boolean): URL {
  const given = setting(env, 'WEFT_KUBE_API')
  if (given === undefined) {
    if (!pod) throw new ConfigError('WEFT_KUBE_API', '', 'the API server\'s URL when the Node list is read outside a pod (WEFT_DISCOVERY, WEFT_RECLAIM or IPALLOC_INIT=kubernetes without KUBERNETES_SERVICE_HOST)')
    const host = env.KUBERNETES_SERVICE_HOST ?? ''
    const port = setting(env, 'KUBERNETES_SERVICE_PORT') ?? '443'
    const url = `https://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
    if (!URL.canParse(url)) throw new ConfigError('KUBERNETES_SERVICE_HOST', host, 'a host or IP address (set by Kubernetes in every pod)')
    return new URL(url)
  }
  const url = URL.canParse(given) ? new URL(given) : null
  if (url === null || !/^https?:$/.test(url.protocol)) throw new ConfigError('WEFT_KUBE_API', given, 'an https:// URL such as https://10.96.0.1:443')
  // The service account token must not cross the network in clear text.
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) throw new ConfigError('WEFT_KUBE_API', given, 'https://, or http:// to a loopback address only (kubectl proxy)')
  return url
}

function isPeerId (s: string): boolean {
  try {
    peerIdFromString(s)
    return true
  } catch {
    return false
  }
}

/** A comma or whitespace separated list; `fallback` when unset or empty. */
function listOf (env: Env, name: string, fallback?: string): string[] {
  const value = env[name]
  const raw = value === undefined || value.trim() === '' ? fallback ?? '' : value
  return raw.split(/[\s,]+/).filter(s => s !== '')
}

interface AddressRules {
  readonly allowDns: boolean
  readonly allowPeerId: boolean
}

/** `host:port`, `[v6]:port`, a bare host (default port), or a TCP multiaddr; returned as a multiaddr string. */
function parseAddress (variable: string, item: string, rules: AddressRules): string {
  const expected = rules.allowDns
    ? 'host:port, [IPv6]:port, a host name or a TCP multiaddr such as /ip4/10.0.0.1/tcp/6783'
    : 'ip:port, [IPv6]:port or a TCP multiaddr such as /ip4/0.0.0.0/tcp/6783'
  if (item.startsWith('/')) return checkMultiaddr(variable, item, rules, expected)
  const { host, port } = parseHostPort(variable, item, DEFAULT_PORT)
  const family = isIP(host)
  if (family === 0 && !rules.allowDns) throw new ConfigError(variable, item, expected)
  const proto = family === 4 ? 'ip4' : family === 6 ? 'ip6' : 'dns'
  return `/${proto}/${host}/tcp/${port}`
}

function checkMultiaddr (variable: string, item: string, rules: AddressRules, expected: string): string {
  let components
  try {
    components = multiaddr(item).getComponents()
  } catch (err) {
    throw new ConfigError(variable, item, `${expected} (${(err as Error).message})`)
  }
  const [host, tcp, p2p, ...rest] = components
  const hostOk = host !== undefined && (host.name === 'ip4' || host.name === 'ip6' ||
    (rules.allowDns && (host.name === 'dns' || host.name === 'dns4' || host.name === 'dns6')))
  const tcpOk = tcp?.name === 'tcp'
  const p2pOk = p2p === undefined || (rules.allowPeerId && p2p.name === 'p2p' && p2p.value !== undefined && isPeerId(p2p.value))
  if (!hostOk || !tcpOk || !p2pOk || rest.length > 0) throw new ConfigError(variable, item, expected)
  return item
}

/** `host:port`, `[v6]:port`, or a bare host when a default port is given. */
function parseHostPort (variable: string, item: string, defaultPort: number | null): HostPort {
  const expected = defaultPort === null ? 'host:port, e.g. 0.0.0.0:9102' : 'host:port, [IPv6]:port or a host name'
  let host: string
  let portText: string | undefined
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(item)
  if (v6 !== null) {
    host = v6[1] ?? ''
    portText = v6[2]
    if (isIP(host) !== 6) throw new ConfigError(variable, item, expected)
  } else {
    const parts = item.split(':')
    if (parts.length > 2) throw new ConfigError(variable, item, `${expected} (put an IPv6 address in brackets)`)
    host = parts[0] ?? ''
    portText = parts[1]
    if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new ConfigError(variable, item, expected)
  }
  if (portText === undefined) {
    if (defaultPort === null) throw new ConfigError(variable, item, `${expected} (the port is missing)`)
    return { host, port: defaultPort }
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new ConfigError(variable, item, `${expected} with a port from 1 to 65535`)
  }
  return { host, port: Number(portText) }
}

/** A variable's value; set but empty counts as unset, as a Kubernetes manifest often leaves it. */
function setting (env: Env, name: string): string | undefined {
  const value = env[name]
  return value === '' ? undefined : value
}

function metricsAddr (value: string | undefined): HostPort | null {
  return value === undefined ? null : parseHostPort('WEFT_METRICS_ADDR', value, null)
}

function absolutePath (env: Env, name: string, fallback: string): string {
  const value = setting(env, name) ?? fallback
  if (!value.startsWith('/') || value.includes('\0')) throw new ConfigError(name, value, 'an absolute path')
  return value
}

function socketPath (env: Env): string {
  const value = absolutePath(env, 'WEFT_SOCKET', DEFAULT_SOCKET)
  // sun_path holds 108 bytes including the terminating NUL.
  if (Buffer.byteLength(value) > 107) throw new ConfigError('WEFT_SOCKET', value, 'a path of at most 107 bytes (the unix socket limit)')
  return value
}

function nickname (env: Env, hostname: string): string {
  const value = setting(env, 'WEFT_NICKNAME') ?? hostname
  if (!NICKNAME.test(value)) throw new ConfigError('WEFT_NICKNAME', value, '1 to 253 printable characters without spaces')
  return value
}

function migrateNetwork (env: Env): string {
  const value = setting(env, 'WEFT_MIGRATE_NETWORK') ?? DEFAULT_MIGRATE_NETWORK
  const problem = fieldProblem('network', value)
  if (problem !== null) throw new ConfigError('WEFT_MIGRATE_NETWORK', value, `a CNI network name (${problem})`)
  return value
}

function logLevel (env: Env): LogLevel {
  const value = setting(env, 'WEFT_LOG_LEVEL') ?? 'info'
  const level = LOG_LEVELS.find(l => l === value)
  if (level === undefined) throw new ConfigError('WEFT_LOG_LEVEL', value, `one of ${LOG_LEVELS.join(', ')}`)
  return level
}

function integer (env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = setting(env, name)
  if (value === undefined) return fallback
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ConfigError(name, value, `a whole number from ${min} to ${max}`)
  }
  return Number(value)
}
