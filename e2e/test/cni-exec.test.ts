/**
 * The weft plugin exec'd as a runtime execs it (env + stdin, JSON on stdout), against one real agent
 * process: every config version, every verb, every kind of bad input, and the agent going away.
 */
import { SUPPORTED_VERSIONS, versionAtLeast } from '@weft/cni'
import type { AllocationInfo } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, Cluster, cniEnv, execPlugin, resultAddress, WEFT_CNI } from '@weft/testkit'
import type { AgentProcess, Call } from '@weft/testkit'
import { netconf, pluginCalls } from '../src/plugin-calls.ts'

const RANGE = '10.99.0.0/16'
let cluster: Cluster
let agent: AgentProcess

beforeAll(async () => {
  await buildPlugin()
  cluster = await Cluster.create('cni-exec')
  agent = await cluster.start({ name: 'solo', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=1' } })
  await agent.client.prime()
})
afterAll(async () => {
  await cluster?.teardown()
})

const { cni, add, del, check, stdin } = pluginCalls(() => agent.socketPath)

let seq = 0
const newId = (): string => `e2e${process.pid}x${++seq}`

async function allocations (): Promise<AllocationInfo[]> {
  return (await agent.client.allocations()).allocations
}
const holderOf = async (containerId: string): Promise<AllocationInfo | undefined> =>
  (await allocations()).find((a) => a.containerId === containerId)
/** The agent's gateway of the network `e2e`, reserved by the first ADD of it. */
const gatewayOf = async (): Promise<string | undefined> =>
  (await allocations()).find((a) => a.containerId === ':gateway' && a.network === 'e2e')?.address

describe('VERSION and no command', () => {
  it('prints the supported versions', async () => {
    const r = await cni({ command: 'VERSION' }, { cniVersion: '1.1.0' })
    expect(r.code).toBe(0)
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] })
  })

  it('prints an about line on stderr without CNI_COMMAND', async () => {
    const r = await execPlugin(WEFT_CNI, {}, '')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('CNI protocol versions supported: 0.1.0')
  })
})

describe.each(SUPPORTED_VERSIONS)('config version %s', (version) => {
  const conf = netconf({ cniVersion: version })

  it('ADD prints the result in the version\'s layout, repeated ADD returns the same address, DEL releases it', async () => {
    const id = newId()
    const r = await add(id, conf, `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod-${version}`)
    expect(r.code, r.stdout).toBe(0)
    const address = resultAddress(r.json)
    expect(address).toMatch(/^10\.99\.\d+\.\d+\/16$/)
    const gateway = await gatewayOf()
    expect(gateway).toMatch(/^10\.99\.\d+\.\d+$/)
    expect(address).not.toBe(`${gateway}/16`)
    if (version === '0.1.0' || version === '0.2.0') {
      expect(r.json).toEqual({ cniVersion: version, ip4: { ip: address, gateway }, dns: {} })
    } else if (version.startsWith('0.')) {
      expect(r.json).toEqual({ cniVersion: version, ips: [{ version: '4', address, gateway }], dns: {} })
    } else {
      expect(r.json).toEqual({ cniVersion: version, ips: [{ address, gateway }], dns: {} })
    }
    expect(await holderOf(id)).toMatchObject({ ifname: 'eth0', address: address?.split('/')[0], podNamespace: 'ns1', podName: `pod-${version}` })

    expect(resultAddress((await add(id, conf)).json)).toBe(address)

    if (versionAtLeast(version, '0.4.0')) expect((await check(id, conf)).code).toBe(0)
    expect((await del(id, conf)).code).toBe(0)
    expect(await holderOf(id)).toBeUndefined()
    expect((await del(id, conf)).code).toBe(0)
    if (versionAtLeast(version, '0.4.0')) {
      const after = await check(id, conf)
      expect(after.code).not.toBe(0)
      expect(after.json).toMatchObject({ code: 999, msg: `no address is allocated to container ${id} interface eth0` })
    }
  })
})

describe('a config without cniVersion', () => {
  it('is 0.1.0: the ip4 layout', async () => {
    const id = newId()
    const conf = netconf()
    delete conf.cniVersion
    const r = await add(id, conf)
    expect(r.code, r.stdout).toBe(0)
    expect(r.json).toMatchObject({ cniVersion: '0.1.0', ip4: { ip: expect.stringMatching(/^10\.99\./) } })
    expect((await del(id, conf)).code).toBe(0)
  })
})

describe('ADD', () => {
  it('gives distinct addresses to 16 pods started at once', async () => {
    const ids = Array.from({ length: 16 }, newId)
    const runs = await Promise.all(ids.map(async (id) => await add(id, netconf())))
    expect(runs.map((r) => r.code)).toEqual(ids.map(() => 0))
    const addresses = runs.map((r) => resultAddress(r.json))
    expect(new Set(addresses).size).toBe(16)
    await Promise.all(ids.map(async (id) => await del(id, netconf())))
  })

  it.each<[string, (ip: string) => [Record<string, unknown>, string | undefined]]>([
    ['runtimeConfig.ips', (ip) => [netconf({ runtimeConfig: { ips: [`${ip}/16`] } }), undefined]],
    ['args.cni.ips', (ip) => [netconf({ args: { cni: { ips: [ip] } } }), undefined]],
    ['CNI_ARGS IP=', (ip) => [netconf(), `IP=${ip}`]]
  ])('gives the address asked for with %s', async (_, make) => {
    const id = newId()
    const ip = `10.99.200.${seq}`
    const [conf, args] = make(ip)
    const r = await add(id, conf, args)
    expect(r.code, r.stdout).toBe(0)
    expect(resultAddress(r.json)).toBe(`${ip}/16`)
    expect((await del(id, conf)).code).toBe(0)
  })

  it('passes routes and dns through, and carries the node\'s gateway, which no pod gets and DEL keeps', async () => {
    const conf = netconf({}, {
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] }
    })
    const id = newId()
    const r = await add(id, conf)
    expect(r.code, r.stdout).toBe(0)
    const gateway = await gatewayOf()
    expect(gateway).toBeDefined()
    expect(r.json).toEqual({
      cniVersion: '1.1.0',
      ips: [{ address: resultAddress(r.json), gateway }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] }
    })
    const other = await add(newId(), netconf({ runtimeConfig: { ips: [gateway] } }))
    expect(other.json).toMatchObject({ code: 999, msg: `${gateway} is already allocated` })
    expect((await check(id, { ...conf, prevResult: r.json })).code).toBe(0)
    const moved = { ...r.json, ips: [{ address: resultAddress(r.json), gateway: '10.99.255.254' }] }
    expect((await check(id, { ...conf, prevResult: moved })).json).toMatchObject({
      code: 999, msg: `prevResult lists the gateway 10.99.255.254, but this node's gateway of network e2e is ${gateway}`
    })
    expect((await del(id, conf)).code).toBe(0)
    expect(await gatewayOf()).toBe(gateway)
  })

  it('leaves the gateway out of the result with ipam.gateway false', async () => {
    const conf = netconf({}, { gateway: false })
    const id = newId()
    const r = await add(id, conf)
    expect(r.code, r.stdout).toBe(0)
    expect(r.json).toEqual({ cniVersion: '1.1.0', ips: [{ address: resultAddress(r.json) }], dns: {} })
    expect((await check(id, { ...conf, prevResult: r.json })).code).toBe(0)
    expect((await del(id, conf)).code).toBe(0)
  })
})

describe('bad input', () => {
  const id = 'badinput0'
  const base = { command: 'ADD', containerId: id, ifname: 'eth0', netns: '/var/run/netns/none' }
  it.each<[string, Partial<Call> & { drop?: string }, Record<string, unknown> | string, number, string]>([
    ['missing CNI_NETNS', { drop: 'CNI_NETNS' }, netconf(), 4, 'CNI_NETNS'],
    ['missing CNI_PATH', { drop: 'CNI_PATH' }, netconf(), 4, 'CNI_PATH'],
    ['bad container id', { containerId: '-x' }, netconf(), 4, 'CNI_CONTAINERID'],
    ['long ifname', { ifname: 'eth0123456789012' }, netconf(), 4, 'CNI_IFNAME'],
    ['unknown command', { command: 'ATTACH' }, netconf(), 4, 'CNI_COMMAND'],
    ['unknown CNI_ARGS key', { args: 'K8S_POD_NAME=a;COLOR=blue' }, netconf(), 4, 'COLOR'],
    ['bad CNI_ARGS IP', { args: 'IP=10.99.0.256' }, netconf(), 4, 'CNI_ARGS IP'],
    ['broken JSON', {}, '{"cniVersion":', 6, 'error parsing network configuration'],
    ['unknown version', {}, netconf({ cniVersion: '9.9.9' }), 1, '"9.9.9"'],
    ['CHECK on 0.3.1', { command: 'CHECK' }, netconf({ cniVersion: '0.3.1' }), 1, 'CHECK'],
    ['GC on 1.0.0', { command: 'GC' }, netconf({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] }), 1, 'GC'],
    ['missing name', {}, { cniVersion: '1.0.0', ipam: { type: 'weft' } }, 7, 'name'],
    ['network name starting with a dash', {}, netconf({ name: '-e2e' }), 7, 'invalid name: "-e2e" is not a network name: it must match'],
    ['network name with a slash', {}, netconf({ name: 'ns/e2e' }), 7, 'invalid name: "ns/e2e" is not a network name'],
    ['network name too long', {}, netconf({ name: 'n'.repeat(254) }), 7, 'longer than 253 characters'],
    ['network name not a string', {}, netconf({ name: 7 }), 7, 'invalid name'],
    ['missing ipam', {}, { cniVersion: '1.0.0', name: 'x' }, 7, 'ipam'],
    ['unknown ipam field', {}, netconf({}, { subnet: '10.0.0.0/8' }), 7, 'ipam.subnet'],
    ['bad route', {}, netconf({}, { routes: [{ dst: 'default' }] }), 7, 'ipam.routes[0].dst'],
    ['bad dns', {}, netconf({}, { dns: { nameservers: 'x' } }), 7, 'ipam.dns.nameservers'],
    ['two addresses asked for', { args: 'IP=10.99.9.9' }, netconf({ runtimeConfig: { ips: ['10.99.9.8'] } }), 7, 'more than one IPv4 address requested (10.99.9.9, 10.99.9.8)'],
    ['an address outside the range', {}, netconf({ runtimeConfig: { ips: ['192.168.1.1'] } }), 7, '192.168.1.1'],
    ['a gateway given as an address', {}, netconf({}, { gateway: '10.99.0.1' }), 7, 'ipam.gateway']
  ])('%s: code %i, nothing allocated', async (_, change, conf, code, words) => {
    const before = await allocations()
    const { drop, ...call } = change
    const env = cniEnv({ ...base, ...call })
    if (drop !== undefined) Reflect.deleteProperty(env, drop)
    const r = await execPlugin(WEFT_CNI, env, stdin(conf))
    expect(r.code).not.toBe(0)
    expect(r.json).toMatchObject({ code })
    expect(String(r.json?.msg)).toContain(words)
    expect(await allocations()).toEqual(before)
  })
})

describe('GC', () => {
  it('releases exactly the attachments not listed (legacy key too) and keeps the gateway unlisted', async () => {
    const conf = netconf()
    const ids = [newId(), newId(), newId(), newId()]
    for (const id of ids) expect((await add(id, conf)).code).toBe(0)
    const keep = ids.slice(0, 2).map((containerID) => ({ containerID, ifname: 'eth0' }))
    const untouched = (await allocations()).filter((a) => !ids.includes(a.containerId) && a.containerId !== ':gateway')

    const r = await cni({ command: 'GC' }, { ...conf, 'cni.dev/valid-attachments': [...keep, ...untouched.map((a) => ({ containerID: a.containerId, ifname: a.ifname }))] })
    expect(r.code, r.stdout).toBe(0)
    expect(r.stdout).toBe('')
    const left = (await allocations()).map((a) => a.containerId).sort()
    expect(left).toEqual([...untouched.map((a) => a.containerId), ids[0], ids[1], ':gateway'].sort())

    const legacy = await cni({ command: 'GC' }, { ...conf, 'cni.dev/attachments': [] })
    expect(legacy.code).toBe(0)
    expect((await allocations()).map((a) => [a.network, a.containerId])).toEqual([['e2e', ':gateway']])
  })

  it('on one network leaves every other network alone (ADD on neta, GC on netb naming only its own)', async () => {
    const neta = netconf({ name: 'neta' })
    const netb = netconf({ name: 'netb' })
    const [a, b, shared] = [newId(), newId(), newId()]
    expect((await add(a, neta)).code).toBe(0)
    expect((await add(b, netb)).code).toBe(0)
    // The same container and interface on both networks: two attachments, two addresses.
    const onA = resultAddress((await add(shared, neta)).json)
    const onB = resultAddress((await add(shared, netb)).json)
    expect(onA).not.toBe(onB)
    const r = await cni({ command: 'GC' }, { ...netb, 'cni.dev/valid-attachments': [{ containerID: b, ifname: 'eth0' }] })
    expect(r.code, r.stdout).toBe(0)
    const left = (await allocations()).filter((x) => [a, b, shared].includes(x.containerId)).map((x) => `${x.network}/${x.containerId}`)
    expect(left.sort()).toEqual([`neta/${a}`, `neta/${shared}`, `netb/${b}`].sort())
    expect((await check(shared, neta)).code).toBe(0)
    for (const [id, conf] of [[a, neta], [shared, neta], [b, netb]] as const) expect((await del(id, conf)).code).toBe(0)
  })
})

describe('an agent that cannot reach its quorum', () => {
  it('STATUS is 0 while idle (the first ADD starts consensus); ADD is 11 with Weave\'s words, then STATUS is 50', async () => {
    const lone = await cluster.start({ name: 'lone', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=2', WEFT_REQUEST_TIMEOUT_MS: '1000' } })
    const conf = { ...netconf(), ipam: { type: 'weft', socket: lone.socketPath } }
    expect((await lone.client.status()).status).toBe('idle')
    expect((await cni({ command: 'STATUS' }, conf)).code).toBe(0)
    const r = await add(newId(), conf)
    expect(r.json).toMatchObject({ code: 11, msg: 'awaiting consensus (quorum: 2, known: 1)' })
    const status = await cni({ command: 'STATUS' }, conf)
    expect(status.json).toMatchObject({ code: 50, details: 'awaiting-consensus' })
    expect((await lone.client.allocations()).allocations).toEqual([])
    await cluster.stop(lone)
  })
})

describe('an exhausted range', () => {
  it('STATUS is 50 while no address is free anywhere, ADD is 11, and both recover after a DEL', async () => {
    // A /30 has two addresses to give (never the network and broadcast addresses): the gateway and one pod.
    const tiny = await cluster.start({ name: 'tiny', env: { IPALLOC_RANGE: '10.98.0.0/30', IPALLOC_INIT: 'consensus=1', WEFT_REQUEST_TIMEOUT_MS: '1000' } })
    const conf = { ...netconf(), ipam: { type: 'weft', socket: tiny.socketPath } }
    await tiny.client.prime()
    const a = newId()
    expect((await add(a, conf)).code).toBe(0)
    const status = await cni({ command: 'STATUS' }, conf)
    expect(status.json).toMatchObject({ code: 50, msg: 'range 10.98.0.0/30 is exhausted: no free address on this peer or on any reachable peer' })
    expect((await add(newId(), conf)).json).toMatchObject({ code: 11 })
    expect((await del(a, conf)).code).toBe(0)
    expect((await cni({ command: 'STATUS' }, conf)).code).toBe(0)
    expect((await add(newId(), conf)).code).toBe(0)
    await cluster.stop(tiny)
  })
})

describe('the agent going away', () => {
  it('STATUS is 50 at once when the agent crashed; ADD waits for it to come back; DEL says try again later after the wait, or at once with no socket', async () => {
    const conf = netconf()
    const spec = { name: 'solo', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=1' } }
    expect((await cni({ command: 'STATUS' }, conf)).code).toBe(0)
    const id = newId()
    expect((await add(id, conf)).code).toBe(0)
    // kill -9 leaves the socket behind, refusing connections.
    await cluster.kill(agent)

    const status = await cni({ command: 'STATUS' }, conf)
    expect(status.json).toMatchObject({ code: 50, msg: expect.stringContaining(agent.socketPath) })
    // As a DaemonSet restarts a crashed agent: the ADD started meanwhile is answered by the new one.
    const pending = add(newId(), conf)
    agent = await cluster.start(spec)
    const a = await pending
    expect(a.code, a.stdout).toBe(0)
    await cluster.kill(agent)
    // No agent within the plugin's wait (10 s): try again later, naming the socket.
    const d = await del(id, conf)
    expect(d.json).toMatchObject({ code: 11, msg: `cannot reach the weft agent at ${agent.socketPath}: connection refused; is the agent running?` })
    // Stopped cleanly, the agent removed its socket: nothing to wait for.
    agent = await cluster.start(spec)
    await cluster.stop(agent)
    const gone = await del(id, conf)
    expect(gone.json).toMatchObject({ code: 11, msg: `cannot reach the weft agent at ${agent.socketPath}: no such socket; is the agent running?` })
  })
})
