import { describe, expect, it } from 'vitest'
import { CniError, parseConfig, parseEnv } from '../src/index.ts'
import type { Invocation } from '../src/index.ts'

const env = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/n', CNI_IFNAME: 'eth0', CNI_PATH: '/p' }
const inv = (command: string, cniArgs = ''): Invocation => {
  const i = parseEnv({ ...env, CNI_COMMAND: command, CNI_ARGS: cniArgs })
  if (i === null) throw new Error('no invocation')
  return i
}
const conf = (extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'bridge', ipam: { type: 'weft', ...ipam }, ...extra })

function failure (text: string, command = 'ADD', cniArgs = ''): { code: number, msg: string } {
  try {
    parseConfig(text, inv(command, cniArgs))
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.message }
    throw err
  }
  throw new Error('expected a CniError')
}

describe('parseConfig', () => {
  it('fills defaults', () => {
    expect(parseConfig(conf(), inv('ADD'))).toEqual({
      cniVersion: '1.0.0', name: 'net', addresses: [], validAttachments: [],
      ipam: { socket: '/run/weft/weft.sock', routes: [], gateway: true, dns: {} }
    })
  })

  it('reads every ipam option', () => {
    const c = parseConfig(conf({}, {
      socket: '/tmp/w.sock',
      gateway: false,
      pools: ['lan-v4', 'lan-v6'],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.99.0.254' }],
      dns: { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] }
    }), inv('ADD'))
    expect(c.ipam).toEqual({
      socket: '/tmp/w.sock',
      gateway: false,
      pools: ['lan-v4', 'lan-v6'],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.99.0.254' }],
      dns: { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] }
    })
  })

  it('treats a missing cniVersion as 0.1.0', () => {
    expect(parseConfig(JSON.stringify({ name: 'n', ipam: { type: 'weft' } }), inv('ADD')).cniVersion).toBe('0.1.0')
  })

  it('answers 6 to bad JSON and to JSON that is not an object', () => {
    expect(failure('{"name":').code).toBe(6)
    expect(failure('[1]').code).toBe(6)
    expect(failure('').code).toBe(6)
  })

  it('answers 1 to an unknown version and to a command the version lacks', () => {
    expect(failure(conf({ cniVersion: '9.9.9' }))).toEqual({
      code: 1, msg: 'incompatible CNI versions: config is "9.9.9", plugin supports [0.1.0 0.2.0 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0]'
    })
    expect(failure(conf({ cniVersion: '0.3.1' }), 'CHECK').code).toBe(1)
    expect(failure(conf({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] }), 'GC').code).toBe(1)
    expect(failure(conf({ cniVersion: '1.0.0' }), 'STATUS').code).toBe(1)
    expect(parseConfig(conf({ cniVersion: '0.4.0' }), inv('CHECK')).cniVersion).toBe('0.4.0')
  })

  it.each<[string, Record<string, unknown>, Record<string, unknown>, string]>([
    ['missing name', { name: undefined }, {}, 'invalid name: missing network name'],
    ['bad name', { name: 'a b' }, {}, 'invalid name: "a b" is not a network name: it must match'],
    ['name starting with a dot', { name: '.net' }, {}, 'invalid name: ".net" is not a network name'],
    ['long name', { name: 'n'.repeat(254) }, {}, 'is not a network name: longer than 253 characters'],
    ['non-string version', { cniVersion: 1 }, {}, 'invalid cniVersion'],
    ['missing ipam', { ipam: undefined }, {}, 'invalid ipam: missing ipam section'],
    ['ipam not object', { ipam: 'weft' }, {}, 'invalid ipam: expected an object'],
    ['no ipam type', { ipam: { socket: '/x' } }, {}, 'invalid ipam.type'],
    ['unknown ipam field', {}, { gatway: '10.0.0.1' }, 'invalid ipam.gatway: unknown field'],
    ['relative socket', {}, { socket: 'weft.sock' }, 'invalid ipam.socket: "weft.sock" is not an absolute path'],
    ['long socket', {}, { socket: '/' + 'x'.repeat(107) }, 'invalid ipam.socket: longer than 107 bytes'],
    ['gateway not boolean', {}, { gateway: 'yes' }, 'invalid ipam.gateway: expected true or false, got "yes"'],
    ['gateway as an address', {}, { gateway: '10.32.0.1' }, "invalid ipam.gateway: expected true or false, got \"10.32.0.1\" (the agent reserves each node's gateway itself)"],
    ['routes not array', {}, { routes: {} }, 'invalid ipam.routes: expected an array'],
    ['route not object', {}, { routes: ['0.0.0.0/0'] }, 'invalid ipam.routes[0]: expected an object'],
    ['route bad dst', {}, { routes: [{ dst: '0.0.0.0/0' }, { dst: '10.0.0.0/33' }] }, 'invalid ipam.routes[1].dst: "10.0.0.0/33" is not a CIDR'],
    ['route bad gw', {}, { routes: [{ dst: '0.0.0.0/0', gw: 'x' }] }, 'invalid ipam.routes[0].gw: "x" is not an IP address'],
    ['route gw family', {}, { routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] }, 'invalid ipam.routes[0].gw: fd00::1 is not of the family of 0.0.0.0/0'],
    ['route extra field', {}, { routes: [{ dst: '0.0.0.0/0', via: '1.2.3.4' }] }, 'invalid ipam.routes[0].via: unknown field'],
    ['dns not object', {}, { dns: [] }, 'invalid ipam.dns: expected an object'],
    ['dns bad nameserver', {}, { dns: { nameservers: ['1.1.1.1', 'dns.local'] } }, 'invalid ipam.dns.nameservers[1]: "dns.local" is not an IP address'],
    ['dns search not array', {}, { dns: { search: 'a' } }, 'invalid ipam.dns.search: expected an array of strings'],
    ['dns domain not string', {}, { dns: { domain: 1 } }, 'invalid ipam.dns.domain: expected a string'],
    ['dns unknown field', {}, { dns: { servers: [] } }, 'invalid ipam.dns.servers: unknown field'],
    ['pools not an array', {}, { pools: 'lan' }, 'invalid ipam.pools: expected an array of strings'],
    ['pools empty', {}, { pools: [] }, 'invalid ipam.pools: empty: name at least one pool, or leave it out for the default pools'],
    ['pool not a string', {}, { pools: ['lan', 4] }, 'invalid ipam.pools[1]: expected a string, got 4'],
    ['pool name uppercase', {}, { pools: ['LAN'] }, 'invalid ipam.pools[0]: "LAN" is not a pool name'],
    ['pool name ending in a dash', {}, { pools: ['default', 'lan-'] }, 'invalid ipam.pools[1]: "lan-" is not a pool name'],
    ['pool name too long', {}, { pools: ['p'.repeat(64)] }, 'is not a pool name: longer than 63 characters'],
    ['pool twice', {}, { pools: ['lan', 'wan', 'lan'] }, 'invalid ipam.pools[2]: "lan" is listed twice'],
    ['runtimeConfig.ips bad', { runtimeConfig: { ips: ['10.0.0.1', 'nope'] } }, {}, 'invalid runtimeConfig.ips[1]: "nope" is not an IP address'],
    ['args.cni.ips not array', { args: { cni: { ips: '10.0.0.1' } } }, {}, 'invalid args.cni.ips: expected an array of strings']
  ])('answers 7 naming the field: %s', (_, extra, ipam, msg) => {
    const base = JSON.parse(conf(extra, ipam)) as Record<string, unknown>
    for (const [k, v] of Object.entries(extra)) if (v === undefined) Reflect.deleteProperty(base, k)
    const e = failure(JSON.stringify(base))
    expect(e.code).toBe(7)
    expect(e.msg).toContain(msg)
  })

  it('merges the requested addresses from CNI_ARGS, args.cni.ips and runtimeConfig.ips, CNI_ARGS first', () => {
    expect(parseConfig(conf({ runtimeConfig: { ips: ['10.99.0.7/16'] } }), inv('ADD')).addresses).toEqual(['10.99.0.7'])
    expect(parseConfig(conf({ args: { cni: { ips: ['10.99.0.8'] } } }), inv('ADD')).addresses).toEqual(['10.99.0.8'])
    expect(parseConfig(conf({ runtimeConfig: { ips: ['10.99.0.9'] } }), inv('ADD', 'IP=10.99.0.9')).addresses).toEqual(['10.99.0.9'])
    expect(parseConfig(conf({ runtimeConfig: { ips: ['fd00::9/64'] } }), inv('ADD', 'IP=10.99.0.9')).addresses).toEqual(['10.99.0.9', 'fd00::9'])
    expect(parseConfig(conf(), inv('ADD', 'IP=fd00::9,10.99.0.9')).addresses).toEqual(['fd00::9', '10.99.0.9'])
  })

  it('takes one address per family from the default pools, one per pool from named ones', () => {
    expect(failure(conf({ runtimeConfig: { ips: ['10.99.0.7'] } }), 'ADD', 'IP=10.99.0.9'))
      .toEqual({ code: 7, msg: 'more than one IPv4 address requested (10.99.0.9, 10.99.0.7): the default pools give one address per family' })
    expect(failure(conf({ args: { cni: { ips: ['fd00::1', 'fd00::2'] } } }), 'ADD').msg).toContain('more than one IPv6 address requested (fd00::1, fd00::2)')
    const two = conf({ runtimeConfig: { ips: ['10.1.0.7', '10.2.0.7'] } }, { pools: ['lan-a', 'lan-b'] })
    expect(parseConfig(two, inv('ADD')).addresses).toEqual(['10.1.0.7', '10.2.0.7'])
    expect(failure(conf({ runtimeConfig: { ips: ['10.1.0.7', 'fd00::7'] } }, { pools: ['lan-a'] })))
      .toEqual({ code: 7, msg: '2 addresses requested (10.1.0.7, fd00::7) from 1 pool (lan-a): each pool gives one address per attachment' })
  })

  it('reads the GC lists, the current and the legacy key, and refuses GC without one', () => {
    const valid = [{ containerID: 'a', ifname: 'eth0' }]
    const gc = (extra: Record<string, unknown>): string => conf({ cniVersion: '1.1.0', ...extra })
    expect(parseConfig(gc({ 'cni.dev/valid-attachments': valid }), inv('GC')).validAttachments).toEqual([{ containerId: 'a', ifname: 'eth0' }])
    expect(parseConfig(gc({ 'cni.dev/attachments': valid }), inv('GC')).validAttachments).toEqual([{ containerId: 'a', ifname: 'eth0' }])
    expect(parseConfig(gc({ 'cni.dev/valid-attachments': [] }), inv('GC')).validAttachments).toEqual([])
    expect(failure(gc({}), 'GC')).toEqual({ code: 7, msg: 'invalid cni.dev/valid-attachments: GC needs the list of attachments to keep' })
    expect(failure(gc({ 'cni.dev/valid-attachments': [{ containerID: 'a' }] }), 'GC').msg).toContain('cni.dev/valid-attachments[0]')
    // The same rules as CNI_CONTAINERID and CNI_IFNAME, the agent's own.
    expect(failure(gc({ 'cni.dev/valid-attachments': [...valid, { containerID: '-a', ifname: 'eth0' }] }), 'GC'))
      .toMatchObject({ code: 7, msg: expect.stringContaining('invalid cni.dev/valid-attachments[1]: "-a" is not a container id') })
    expect(failure(gc({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'a234567890123456' }] }), 'GC').msg).toContain('longer than 15 bytes')
  })

  it('reads prevResult addresses and gateways for CHECK', () => {
    const prev = { cniVersion: '1.0.0', ips: [{ address: '10.99.0.2/16', gateway: '10.99.0.9' }, { address: '10.99.0.3/16' }], dns: {} }
    expect(parseConfig(conf({ prevResult: prev }), inv('CHECK'))).toMatchObject({ prevAddresses: ['10.99.0.2/16', '10.99.0.3/16'], prevGateways: ['10.99.0.9'] })
    expect(failure(conf({ prevResult: { ips: [{ address: '10.99.0.2' }] } }), 'CHECK').msg).toContain('prevResult.ips[0].address')
    expect(failure(conf({ prevResult: { ips: [{ address: '10.99.0.2/16', gateway: 'gw' }] } }), 'CHECK').msg).toBe('invalid prevResult.ips[0].gateway: "gw" is not an IP address')
  })
})
