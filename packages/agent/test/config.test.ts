import { describe, expect, it } from 'vitest'
import { DEFAULT_TIMEOUTS } from '@weft/ring'
import { parseConfig, formatInit, PROTOCOL_TIMEOUTS_MS, timeoutsInTicks } from '../src/config.ts'
import type { Env } from '../src/config.ts'
import { ConfigError } from '../src/errors.ts'

const ID_A = '12D3KooWGRUVh7d5ZH1q8pRmGvWTbqdazDxjW9KD5hrXVf2kPSi4'
const ID_B = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'

const parse = (env: Env) => parseConfig(env, { hostname: 'node-1' })

function rejects (env: Env, variable: string, ...mentions: string[]): void {
  let caught: unknown
  try {
    parse(env)
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(ConfigError)
  const err = caught as ConfigError
  expect(err.name).toBe('ConfigError')
  expect(err.variable).toBe(variable)
  expect(err.message).toContain(variable)
  for (const m of mentions) expect(err.message).toContain(m)
}

describe('config defaults', () => {
  it('fills every default from an empty environment', () => {
    const c = parse({})
    expect(c).toEqual({
      pools: { pools: [{ name: 'default', range: '10.32.0.0/12', reserved: [], draining: false, bridge: null }], defaults: ['default'] },
      init: { kind: 'consensus', count: 1 },
      peers: [],
      listen: ['/ip4/0.0.0.0/tcp/6783'],
      dataDir: '/var/lib/weft',
      socketPath: '/run/weft/weft.sock',
      swarmKeyFile: null,
      nickname: 'node-1',
      metricsAddr: null,
      logLevel: 'info',
      tickMs: 100,
      idleWakeMs: 1_000,
      protocolTimeoutsMs: PROTOCOL_TIMEOUTS_MS,
      requestTimeoutMs: 30_000,
      reconnectMs: 2_000,
      pingMs: 10_000,
      kube: null,
      routing: { mode: 'none', nodeIps: [], bridge: 'weft0', intervalMs: 10_000 },
      migrateNetwork: 'weft'
    })
  })

  it('routes over VXLAN by default inside a pod, and takes the node address in canonical form', () => {
    expect(parse({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }).routing.mode).toBe('vxlan')
    expect(parse({ KUBERNETES_SERVICE_HOST: '10.96.0.1', WEFT_ROUTING: 'none' }).routing.mode).toBe('none')
    expect(parse({ WEFT_ROUTING: 'direct', WEFT_NODE_IP: '2001:DB8:0::7', WEFT_BRIDGE: 'cni0', WEFT_ROUTE_INTERVAL_MS: '500' }).routing)
      .toEqual({ mode: 'direct', nodeIps: ['2001:db8::7'], bridge: 'cni0', intervalMs: 500 })
    expect(parse({ WEFT_NODE_IP: '192.0.2.7, 2001:DB8::7' }).routing.nodeIps).toEqual(['192.0.2.7', '2001:db8::7'])
    expect(parse({}).routing.nodeIps).toEqual([])
  })

  it('names a bad routing mode, node address or bridge', () => {
    rejects({ WEFT_ROUTING: 'overlay' }, 'WEFT_ROUTING', '"direct"', '"vxlan"', '"none"')
    rejects({ WEFT_NODE_IP: '10.0.0.256' }, 'WEFT_NODE_IP', 'status.hostIP')
    rejects({ WEFT_NODE_IP: 'node-1.example' }, 'WEFT_NODE_IP')
    rejects({ WEFT_NODE_IP: '192.0.2.7,192.0.2.8' }, 'WEFT_NODE_IP', 'two addresses must be of different families')
    rejects({ WEFT_NODE_IP: '192.0.2.7,2001:db8::7,192.0.2.8' }, 'WEFT_NODE_IP', 'one of each')
    rejects({ WEFT_BRIDGE: 'a-bridge-name-too-long' }, 'WEFT_BRIDGE', '15')
    rejects({ WEFT_BRIDGE: 'br/0' }, 'WEFT_BRIDGE')
  })

  it('inside a pod, finds its peers, inits and reclaims from the Node list of the API server Kubernetes names', () => {
    const inPod = parse({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', WEFT_LISTEN: '/ip4/0.0.0.0/tcp/7000' })
    expect(inPod.kube).toEqual({
      api: new URL('https://10.96.0.1:443'), secretsDir: '/var/run/secrets/kubernetes.io/serviceaccount', pollMs: 10_000, discovery: true, reclaim: true, meshPort: 7000
    })
    expect(inPod.init).toEqual({ kind: 'kubernetes' })
    expect(parse({ KUBERNETES_SERVICE_HOST: 'fd00::1' }).kube?.api.href).toBe('https://[fd00::1]/')
    expect(parse({ KUBERNETES_SERVICE_HOST: '10.96.0.1', WEFT_RECLAIM: 'off' }).kube).toMatchObject({ reclaim: false, discovery: true })
    const off = parse({ KUBERNETES_SERVICE_HOST: '10.96.0.1', WEFT_RECLAIM: 'off', WEFT_DISCOVERY: 'off', WEFT_PEERS: '10.0.0.2' })
    expect(off.kube).toBeNull()
    expect(off.init).toEqual({ kind: 'consensus', count: 2 })
    expect(parse({ WEFT_RECLAIM: 'kubernetes', WEFT_KUBE_API: 'http://127.0.0.1:8080', WEFT_KUBE_SECRETS_DIR: '/tmp/sa', WEFT_KUBE_POLL_MS: '500' }).kube)
      .toEqual({ api: new URL('http://127.0.0.1:8080'), secretsDir: '/tmp/sa', pollMs: 500, discovery: false, reclaim: true, meshPort: 6783 })
    expect(parse({ IPALLOC_INIT: 'kubernetes', WEFT_KUBE_API: 'https://k' }).kube).toMatchObject({ discovery: false, reclaim: false })
  })

  it('counts itself in the default consensus (Weave left itself out)', () => {
    expect(parse({ WEFT_PEERS: '10.0.0.2, 10.0.0.3:7000' }).init).toEqual({ kind: 'consensus', count: 3 })
    expect(parse({ WEFT_PEERS: 'a:1 b:2', IPALLOC_INIT: 'consensus' }).init).toEqual({ kind: 'consensus', count: 3 })
  })
})

describe('config values', () => {
  it('parses every address form', () => {
    const c = parse({
      WEFT_PEERS: `10.0.0.2,[fd00::2]:7000 node-3.cluster.local:6000 /ip4/10.0.0.4/tcp/6783/p2p/${ID_A}`,
      WEFT_LISTEN: '127.0.0.1:7000',
      WEFT_METRICS_ADDR: '0.0.0.0:9102'
    })
    expect(c.peers).toEqual(['/ip4/10.0.0.2/tcp/6783', '/ip6/fd00::2/tcp/7000', '/dns/node-3.cluster.local/tcp/6000', `/ip4/10.0.0.4/tcp/6783/p2p/${ID_A}`])
    expect(c.listen).toEqual(['/ip4/127.0.0.1/tcp/7000'])
    expect(c.metricsAddr).toEqual({ host: '0.0.0.0', port: 9102 })
  })

  it('parses init modes', () => {
    expect(parse({ IPALLOC_INIT: 'consensus=5' }).init).toEqual({ kind: 'consensus', count: 5 })
    expect(parse({ IPALLOC_INIT: 'observer' }).init).toEqual({ kind: 'observer' })
    const seed = parse({ IPALLOC_INIT: `seed=${ID_B},${ID_A}` }).init
    expect(seed).toEqual({ kind: 'seed', peers: [ID_A, ID_B] })
    expect(formatInit(seed)).toBe(`seed=${ID_A},${ID_B}`)
  })

  it('accepts IPv6 ranges and canonical CIDRs only', () => {
    expect(parse({ IPALLOC_RANGE: 'fd00::/64' }).pools.pools[0]?.range).toBe('fd00::/64')
  })
})

describe('config rejects bad values, naming the variable and the value', () => {
  const cases: Array<[string, string, ...string[]]> = [
    ['IPALLOC_RANGE', '10.32.0.1/12', 'host bits'],
    ['IPALLOC_RANGE', '10.32.0.0', 'CIDR'],
    ['IPALLOC_RANGE', '10.32.0.0/31', 'too small'],
    ['IPALLOC_RANGE', '300.0.0.0/8'],
    ['IPALLOC_INIT', 'consensus=0', 'at least 1'],
    ['IPALLOC_INIT', 'consensus=two'],
    ['IPALLOC_INIT', 'seed='],
    ['IPALLOC_INIT', 'seed=node-1', '"node-1" is not one'],
    ['IPALLOC_INIT', 'observer=3'],
    ['IPALLOC_INIT', 'paxos', 'observer'],
    ['WEFT_PEERS', '10.0.0.2:99999', '65535'],
    ['WEFT_PEERS', '10.0.0.2:x'],
    ['WEFT_PEERS', 'fd00::2', 'brackets'],
    ['WEFT_PEERS', '/ip4/10.0.0.2/udp/6783'],
    ['WEFT_PEERS', '/ip4/10.0.0.2/tcp/6783/p2p/nope'],
    ['WEFT_PEERS', '/garbage'],
    ['WEFT_PEERS', 'bad_host!:1'],
    ['WEFT_LISTEN', 'node-1:6783', 'ip:port'],
    ['WEFT_LISTEN', '/dns/x/tcp/1'],
    ['WEFT_DATA_DIR', 'relative/dir', 'absolute path'],
    ['WEFT_SOCKET', 'weft.sock', 'absolute path'],
    ['WEFT_SOCKET', `/${'x'.repeat(120)}`, '107 bytes'],
    ['WEFT_SWARM_KEY_FILE', 'swarm.key', 'absolute path'],
    ['WEFT_NICKNAME', 'has space', 'printable'],
    ['WEFT_NICKNAME', 'x'.repeat(254), '253'],
    ['WEFT_METRICS_ADDR', '0.0.0.0', 'port is missing'],
    ['WEFT_METRICS_ADDR', ':9102'],
    ['WEFT_LOG_LEVEL', 'loud', 'debug'],
    ['WEFT_TICK_MS', '0', 'from 1'],
    ['WEFT_TICK_MS', '1.5'],
    ['WEFT_IDLE_WAKE_MS', '0', 'from 1'],
    ['WEFT_REQUEST_TIMEOUT_MS', '-1'],
    ['WEFT_RECONNECT_MS', 'soon'],
    ['WEFT_PING_MS', '500', 'from 1000'],
    ['WEFT_RECLAIM', 'yes', 'kubernetes', 'off'],
    ['WEFT_MIGRATE_NETWORK', '-weft', 'a CNI network name', 'must match'],
    ['WEFT_MIGRATE_NETWORK', 'a/b', 'must match'],
    ['WEFT_MIGRATE_NETWORK', 'n'.repeat(254), 'longer than 253']
  ]
  it.each(cases)('%s=%s', (variable, value, ...mentions) => {
    rejects({ [variable]: value }, variable, JSON.stringify(value), ...mentions)
  })

  it('names what reclaim lacks or was given wrong', () => {
    const on = { WEFT_RECLAIM: 'kubernetes' }
    rejects(on, 'WEFT_KUBE_API', 'outside a pod')
    rejects({ ...on, WEFT_KUBE_API: 'ftp://x' }, 'WEFT_KUBE_API', '"ftp://x"', 'https://')
    rejects({ ...on, WEFT_KUBE_API: 'http://10.96.0.1' }, 'WEFT_KUBE_API', 'loopback')
    rejects({ ...on, WEFT_KUBE_API: 'https://k', WEFT_KUBE_POLL_MS: '10' }, 'WEFT_KUBE_POLL_MS', 'from 100')
    rejects({ IPALLOC_INIT: 'kubernetes' }, 'WEFT_KUBE_API', 'outside a pod')
    rejects({ WEFT_DISCOVERY: 'dns' }, 'WEFT_DISCOVERY', '"dns"', '"off"')
    rejects({ ...on, WEFT_KUBE_API: 'https://k', WEFT_KUBE_SECRETS_DIR: 'sa' }, 'WEFT_KUBE_SECRETS_DIR', 'absolute path')
  })
})

describe('timeouts', () => {
  it('are milliseconds, turned into ticks once: the default tick gives the core its defaults, a shorter one more ticks', () => {
    expect(timeoutsInTicks(parse({}))).toEqual({ ...DEFAULT_TIMEOUTS, request: 300 })
    const fast = timeoutsInTicks(parse({ WEFT_TICK_MS: '50' }))
    expect(fast.takeover).toBe(2 * DEFAULT_TIMEOUTS.takeover)
    expect(fast.gossip).toBe(2 * DEFAULT_TIMEOUTS.gossip)
    // A timeout shorter than one tick still waits one.
    expect(timeoutsInTicks(parse({ WEFT_TICK_MS: '60000' })).ask).toBe(1)
  })
})
