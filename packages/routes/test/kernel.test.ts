/**
 * The executor and the reconcile loop against a real network namespace this test makes: routes and the
 * tunnel are added, a route deleted or changed by hand is put back, a later agent (a fresh reconciler)
 * removes the stale routes an earlier one left, and a command the kernel refuses is logged and counted.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Ring, asPeerId, parseUniverse } from '@weft/ring/internal'
import type { PeerId, RingState, Universe } from '@weft/ring'
import { Kernel, linkLocalOf, Reconciler, VXLAN_DEVICE, vtepMac, WEFT_PROTO } from '../src/index.ts'
import type { Failure, PoolRing } from '../src/index.ts'
import { addNetns, delNetns, inNetns, must, namespaceSkipReason, run, uniqueName, waitFor } from '@weft/testkit'

const skipReason = await namespaceSkipReason()
const u = parseUniverse('10.32.0.0/12')
const u6 = parseUniverse('fd00:10:32::/104')
const [A, B, C] = ['peer-a', 'peer-b', 'peer-c'].map(asPeerId) as [PeerId, PeerId, PeerId]

function ringWith (addresses: Readonly<Record<string, string>>, removed?: PeerId, universe: Universe = u): RingState {
  const r = Ring.empty(universe)
  r.claimForPeers([A, B, C])
  for (const [p, a] of Object.entries(addresses)) r.setMember(asPeerId(p), p, a)
  if (removed !== undefined) r.addRemoval(removed, A)
  return r.toState()
}

interface Logged { readonly obj: Readonly<Record<string, unknown>>, readonly msg: string }

describe.skipIf(skipReason !== null)('the executor in a network namespace', () => {
  const ns = uniqueName('rt')
  const reconcilers: Reconciler[] = []
  const kernel = new Kernel({ netns: ns })
  const routes = async (): Promise<Array<{ dst: string, gateway?: string, dev?: string }>> =>
    JSON.parse(await must(inNetns(ns, ['ip', '-json', 'route', 'show', 'proto', String(WEFT_PROTO)])) || '[]') as Array<{ dst: string, gateway?: string }>
  const routes6 = async (): Promise<Array<{ dst: string, gateway?: string, dev?: string }>> =>
    JSON.parse(await must(inNetns(ns, ['ip', '-6', '-json', 'route', 'show', 'proto', String(WEFT_PROTO)])) || '[]') as Array<{ dst: string, gateway?: string }>
  const start = (mode: 'direct' | 'vxlan', ring: RingState | PoolRing[], failures: Failure[] = [], logged: Logged[] = [], selfAddresses = ['192.0.2.1']): Reconciler => {
    const log = { info: (obj: Logged['obj'], msg: string) => logged.push({ obj, msg }), warn: (obj: Logged['obj'], msg: string) => logged.push({ obj, msg }) }
    const r = new Reconciler({ kernel, log, intervalMs: 200, failed: f => failures.push(f) })
    reconcilers.push(r)
    r.update({ pools: Array.isArray(ring) ? ring : [{ universe: u, ring }], self: A, selfAddresses, mode, bridge: 'weft0' })
    return r
  }
  const stopAll = async (): Promise<void> => {
    for (const r of reconcilers.splice(0)) {
      r.stop()
      await r.idle()
    }
  }

  beforeAll(async () => {
    await addNetns(ns)
    await must(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'])
    await must(['ip', '-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0'])
    await must(['ip', '-n', ns, 'addr', 'add', '2001:db8:1::1/64', 'dev', 'eth0', 'nodad'])
    for (const dev of ['eth0', 'eth0p', 'lo']) await must(['ip', '-n', ns, 'link', 'set', dev, 'up'])
  })
  // A test that fails must not leave its loop reconciling under the next one.
  afterEach(stopAll)
  afterAll(async () => {
    await delNetns(ns)
  })

  it('adds the routes, makes the bridge with proxy ARP at once, and puts back what is deleted or changed by hand', async () => {
    // The first pass: routes, then the settings once the bridge exists.
    await start('direct', ringWith({ 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' })).idle()
    const rs = await routes()
    expect(rs.length).toBeGreaterThan(0)
    expect(new Set(rs.map(r => r.gateway))).toEqual(new Set(['192.0.2.2', '192.0.2.3']))
    const planned = await routes()
    expect(await must(inNetns(ns, ['cat', '/proc/sys/net/ipv4/conf/weft0/proxy_arp', '/proc/sys/net/ipv4/neigh/weft0/proxy_delay', '/proc/sys/net/ipv4/ip_forward']))).toBe('1\n0\n1\n')

    const [first, second] = planned
    await must(['ip', '-n', ns, 'route', 'del', first!.dst])
    await must(['ip', '-n', ns, 'route', 'replace', second!.dst, 'via', '192.0.2.99'])
    await waitFor('the deleted and the changed route to be put back', async () => JSON.stringify(await routes()) === JSON.stringify(planned))
  })

  it('removes the stale routes an earlier run left, once started again with a ring that moved on', async () => {
    // The kernel kept the routes while no agent ran; now C was taken over by A: its ranges are local.
    const before = (await routes()).filter(r => r.gateway === '192.0.2.3')
    expect(before.length).toBeGreaterThan(0)
    const again = start('direct', ringWith({ 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' }, C))
    await waitFor('the routes to C to go', async () => (await routes()).every(r => r.gateway === '192.0.2.2'))
    await again.idle()
    expect((await routes()).length).toBeGreaterThan(0)
  })

  it('logs a command the kernel refuses with its answer, counts it, and keeps the rest', async () => {
    const failures: Failure[] = []
    const logged: Logged[] = []
    // 198.51.100.3 is on no connected subnet here: the kernel refuses a route via it.
    start('direct', ringWith({ 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '198.51.100.3' }), failures, logged)
    await waitFor('the refused route to be retried', () => failures.length >= 2)
    expect(failures[0]!.command).toMatch(/^ip route replace 10\.\S+ via 198\.51\.100\.3 proto 157$/)
    expect(failures[0]!.answer).toMatch(/invalid gateway|unreachable/i)
    expect(logged.some(l => l.obj.event === 'route-failed' && String(l.obj.command).includes('via 198.51.100.3'))).toBe(true)
    expect((await routes()).every(r => r.gateway === '192.0.2.2')).toBe(true)
  })

  it('starts no pass for a ring change that cannot change the plan (a free-count report)', async () => {
    const addresses = { 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' }
    const log = { info: () => {}, warn: () => {} }
    const r = new Reconciler({ kernel, log, intervalMs: 3_600_000 })
    reconcilers.push(r)
    const base = { self: A, selfAddresses: ['192.0.2.1'], mode: 'direct' as const, bridge: 'weft0' }
    const ring = ringWith(addresses)
    r.update({ ...base, pools: [{ universe: u, ring }] })
    await r.idle()
    const passes = r.stats.passes
    r.update({ ...base, pools: [{ universe: u, ring: { ...ring, entries: ring.entries.map(e => ({ ...e, version: e.version + 1 })) } }] })
    await r.idle()
    expect(r.stats.passes).toBe(passes)
    r.update({ ...base, pools: [{ universe: u, ring: ringWith({ ...addresses, 'peer-c': '192.0.2.4' }) }] })
    await r.idle()
    expect(r.stats.passes).toBe(passes + 1)
    expect((await routes()).some(x => x.gateway === '192.0.2.4')).toBe(true)
  })

  it('builds the VXLAN device, tunnel ends and onlink routes, and removes them in direct mode', async () => {
    const ring = ringWith({ 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' })
    start('vxlan', ring)
    await waitFor('the tunnel', async () => {
      const rs = await routes()
      return rs.length > 0 && rs.every(r => r.dev === VXLAN_DEVICE)
    })
    const link = JSON.parse(await must(inNetns(ns, ['ip', '-json', '-d', 'link', 'show', 'dev', VXLAN_DEVICE]))) as Array<{ mtu: number, address: string, linkinfo: { info_data: { id: number, learning: boolean } } }>
    expect(link[0]).toMatchObject({ mtu: 1450, address: '0a:77:c0:00:02:01', linkinfo: { info_data: { id: 6784, learning: false } } })
    const fdb = JSON.parse(await must(inNetns(ns, ['bridge', '-json', 'fdb', 'show', 'dev', VXLAN_DEVICE]))) as Array<{ mac: string, dst?: string }>
    expect(fdb.filter(f => f.dst !== undefined).map(f => [f.mac, f.dst]).sort()).toEqual([['0a:77:c0:00:02:02', '192.0.2.2'], ['0a:77:c0:00:02:03', '192.0.2.3']])
    const neigh = JSON.parse(await must(inNetns(ns, ['ip', '-json', 'neigh', 'show', 'dev', VXLAN_DEVICE]))) as Array<{ dst: string, lladdr: string }>
    expect(neigh.map(n => [n.dst, n.lladdr]).sort()).toEqual([['192.0.2.2', '0a:77:c0:00:02:02'], ['192.0.2.3', '0a:77:c0:00:02:03']])
    await stopAll()

    start('direct', ring)
    await waitFor('the tunnel to go', async () => (await run(inNetns(ns, ['ip', 'link', 'show', 'dev', VXLAN_DEVICE]))).code !== 0 && (await routes()).every(r => r.dev === 'eth0'))
  })

  it('dual-stack over an IPv4 tunnel: IPv6 routes via the peers\' link-local tunnel ends, removed with their pool', async () => {
    const addresses = { 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' }
    const pools = [{ universe: u, ring: ringWith(addresses) }, { universe: u6, ring: ringWith(addresses, undefined, u6) }]
    start('vxlan', pools)
    const links = [linkLocalOf(vtepMac('192.0.2.2')), linkLocalOf(vtepMac('192.0.2.3'))]
    await waitFor('both families tunnelled', async () => {
      const [v4, v6] = [await routes(), await routes6()]
      return v4.length > 0 && v6.length > 0 && v6.every(r => r.dev === VXLAN_DEVICE && links.includes(r.gateway ?? ''))
    })
    expect(new Set((await routes6()).map(r => r.gateway))).toEqual(new Set(links))
    const neigh = JSON.parse(await must(inNetns(ns, ['ip', '-json', 'neigh', 'show', 'dev', VXLAN_DEVICE]))) as Array<{ dst: string, lladdr: string, state: string[] }>
    expect(neigh.filter(n => n.state.includes('PERMANENT')).map(n => [n.dst, n.lladdr]).sort()).toEqual([
      ['192.0.2.2', '0a:77:c0:00:02:02'], ['192.0.2.3', '0a:77:c0:00:02:03'],
      [links[0], '0a:77:c0:00:02:02'], [links[1], '0a:77:c0:00:02:03']
    ].sort())
    expect(await must(inNetns(ns, ['cat', '/proc/sys/net/ipv6/conf/all/forwarding']))).toBe('1\n')
    await stopAll()

    // The IPv6 pool retired: its routes and link-local neighbours go, the IPv4 ones stay.
    start('vxlan', [pools[0]!])
    await waitFor('the IPv6 routes to go', async () => (await routes6()).length === 0)
    await waitFor('the link-local neighbours to go', async () => {
      const left = JSON.parse(await must(inNetns(ns, ['ip', '-json', 'neigh', 'show', 'dev', VXLAN_DEVICE]))) as Array<{ dst: string, state: string[] }>
      return left.filter(n => n.state.includes('PERMANENT')).map(n => n.dst).sort().join() === '192.0.2.2,192.0.2.3'
    })
    expect((await routes()).length).toBeGreaterThan(0)
  })

  it('dual-stack direct: each family via the peers\' node address of that family, announced in its pool', async () => {
    const v4 = { 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' }
    const v6 = { 'peer-a': '2001:db8:1::1', 'peer-b': '2001:db8:1::2', 'peer-c': '2001:db8:1::3' }
    start('direct', [{ universe: u, ring: ringWith(v4) }, { universe: u6, ring: ringWith(v6, undefined, u6) }], [], [], ['192.0.2.1', '2001:db8:1::1'])
    await waitFor('routes of both families', async () => {
      const [r4, r6] = [await routes(), await routes6()]
      return r4.length > 0 && r6.length > 0 && r6.every(r => r.dev === 'eth0')
    })
    expect(new Set((await routes()).map(r => r.gateway))).toEqual(new Set(['192.0.2.2', '192.0.2.3']))
    expect(new Set((await routes6()).map(r => r.gateway))).toEqual(new Set(['2001:db8:1::2', '2001:db8:1::3']))
    await stopAll()
    start('direct', [{ universe: u, ring: ringWith(v4) }])
    await waitFor('the IPv6 routes to go', async () => (await routes6()).length === 0)
  })
  it('a pool on a bridge of its own: that bridge is made up with the node\'s MAC and proxy ARP, beside the default one', async () => {
    const moved = parseUniverse('172.20.0.0/16')
    const addresses = { 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' }
    await start('direct', [{ universe: u, ring: ringWith(addresses) }, { universe: moved, ring: ringWith(addresses, undefined, moved), bridge: 'weft1' }]).idle()
    const link = JSON.parse(await must(inNetns(ns, ['ip', '-json', 'link', 'show', 'dev', 'weft1']))) as Array<{ address: string, flags: string[] }>
    expect(link[0]?.address).toBe('0a:62:c0:00:02:01')
    expect(link[0]?.flags).toContain('UP')
    const settings = ['weft0', 'weft1'].flatMap(b => [`/proc/sys/net/ipv4/conf/${b}/proxy_arp`, `/proc/sys/net/ipv4/neigh/${b}/proxy_delay`])
    expect(await must(inNetns(ns, ['cat', ...settings]))).toBe('1\n0\n1\n0\n')
    expect((await routes()).some(r => r.dst.startsWith('172.20.') && r.gateway === '192.0.2.2')).toBe(true)
    await stopAll()
    // Its pool retired: its routes go; the bridge stays (a pod may still be on it), as weft0 does.
    start('direct', [{ universe: u, ring: ringWith(addresses) }])
    await waitFor('the moved pool\'s routes to go', async () => !(await routes()).some(r => r.dst.startsWith('172.20.')))
    await must(inNetns(ns, ['ip', 'link', 'del', 'weft1']))
  })

  it('pins the MAC of a bridge made before it, which follows its port, and leaves one given a MAC as it is', async () => {
    const moved = parseUniverse('172.20.0.0/16')
    const addresses = { 'peer-a': '192.0.2.1', 'peer-b': '192.0.2.2', 'peer-c': '192.0.2.3' }
    const pools = [{ universe: u, ring: ringWith(addresses) }, { universe: moved, ring: ringWith(addresses, undefined, moved), bridge: 'weft2' }]
    const sys = async (f: string): Promise<string> => (await must(inNetns(ns, ['cat', `/sys/class/net/weft2/${f}`]))).trim()
    // As the bridge plugin leaves it: made without a MAC, a pod's veth on it, whose MAC it took.
    await must(['ip', '-n', ns, 'link', 'add', 'weft2', 'type', 'bridge'])
    await must(['ip', '-n', ns, 'link', 'add', 'pod2', 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'pod2p'])
    await must(['ip', '-n', ns, 'link', 'set', 'pod2', 'master', 'weft2'])
    expect(await sys('address')).toBe('02:00:00:00:00:01')
    await start('direct', pools).idle()
    expect([await sys('address'), await sys('addr_assign_type')]).toEqual(['0a:62:c0:00:02:01', '3'])
    await must(['ip', '-n', ns, 'link', 'del', 'pod2'])
    expect(await sys('address')).toBe('0a:62:c0:00:02:01')
    await stopAll()
    // Pinned to another MAC (the plugin pins the one it read): the pods' cached results name that one.
    await must(['ip', '-n', ns, 'link', 'set', 'dev', 'weft2', 'address', '02:00:00:00:00:09'])
    await start('direct', pools).idle()
    expect(await sys('address')).toBe('02:00:00:00:00:09')
    await must(inNetns(ns, ['ip', 'link', 'del', 'weft2']))
  })
})
