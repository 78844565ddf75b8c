import type { AllocationInfo, PeerLine, PoolStatus, StatusResponse } from '@weft/protocol'
import { describe, expect, it } from 'vitest'
import { formatIpam, formatPoolsIpam, formatPoolStatus, formatPs, formatRmpeer, formatStatus, percent } from '../src/format.ts'

const peer = (id: string, nickname: string, addresses: string, percentage: number, extra: Partial<PeerLine> = {}): PeerLine =>
  ({ id, nickname, addresses, percentage, free: '0', reachable: true, local: false, ...extra })

const status: StatusResponse = {
  peer: { id: 'p-a', nickname: 'node-a' },
  status: 'ready',
  statusText: 'ready',
  range: '10.32.0.0/12',
  rangeSize: '1048576',
  init: 'consensus=3',
  peers: [
    peer('p-c', 'node-c', '349525', 33.33, { reachable: false }),
    peer('p-a', 'node-a', '349526', 33.33, { local: true, active: 3 }),
    peer('p-b', 'node-b', '349525', 33.33)
  ],
  connections: 1,
  allocations: 3,
  freeLocal: '349521',
  pendingAllocates: 0,
  pendingClaims: 0,
  conflicts: 0,
  badMessages: 0,
  pools: []
}
const pool = (name: string, range: string, extra: Partial<PoolStatus> = {}): PoolStatus => ({
  pool: name,
  status: 'ready',
  statusText: 'ready',
  range,
  rangeSize: '256',
  draining: false,
  default: true,
  peers: [peer('p-a', 'node-a', '128', 50, { local: true, active: 2 }), peer('p-b', 'node-b', '128', 50)],
  allocations: 2,
  freeLocal: '124',
  pendingAllocates: 0,
  pendingClaims: 0,
  conflicts: 0,
  ...extra
})

describe('formatIpam', () => {
  it('prints Weave\'s lines: local first with its active count, unreachable marked', () => {
    expect(formatIpam(status.peers).split('\n')).toEqual([
      'p-a(node-a)                             349526 IPs (33.3% of total) (3 active)',
      'p-b(node-b)                             349525 IPs (33.3% of total)',
      'p-c(node-c)                             349525 IPs (33.3% of total) - unreachable!'
    ])
  })

  it('widens the peer column for long peer ids so the counts stay aligned', () => {
    const long = '12D3KooWRgk2pXnzYb3sPk1a4Jzi8Wg9sUPy7XPRBdFkQ4qf3z9A'
    const lines = formatIpam([peer(long, 'n1', '8', 50, { local: true }), peer('short', 'n2', '1048568', 50)]).split('\n')
    expect(lines[0]?.indexOf(' IPs')).toBe(lines[1]?.indexOf(' IPs'))
    expect(lines[0]).toBe(`${long}(n1)        8 IPs (50.0% of total) (0 active)`)
  })

  it('zero-pads percentages as %04.1f does', () => {
    expect(percent(5)).toBe('05.0')
    expect(percent(0)).toBe('00.0')
    expect(percent(100)).toBe('100.0')
    expect(percent(33.333)).toBe('33.3')
  })
})

describe('pools in status', () => {
  const pools = [pool('default', '10.32.0.0/12', { draining: true, default: false }), pool('new', '172.20.0.0/16')]

  it('status ipam prints each pool under a heading with its name and range', () => {
    expect(formatPoolsIpam(pools).split('\n')).toEqual([
      'default 10.32.0.0/12 (draining)',
      'p-a(node-a)                                128 IPs (50.0% of total) (2 active)',
      'p-b(node-b)                                128 IPs (50.0% of total)',
      '',
      'new 172.20.0.0/16 (default)',
      'p-a(node-a)                                128 IPs (50.0% of total) (2 active)',
      'p-b(node-b)                                128 IPs (50.0% of total)'
    ])
  })

  it('status adds a line per pool past one, and --pool prints that pool\'s section', () => {
    expect(formatStatus({ ...status, pools: [pool('default', '10.32.0.0/12')] })).not.toContain('Pool')
    expect(formatStatus({ ...status, pools }).split('\n').slice(-2)).toEqual([
      '           Pool: default 10.32.0.0/12: ready; 2 allocations (124 free here) (draining)',
      '           Pool: new 172.20.0.0/16: ready; 2 allocations (124 free here) (default)'
    ])
    expect(formatPoolStatus(pools[0]!).split('\n')).toEqual([
      '           Pool: default (draining)',
      '         Status: ready',
      '          Range: 10.32.0.0/12',
      '          Peers: 2 (2 reachable, 0 unreachable)',
      '    Allocations: 2 (124 free here)'
    ])
  })
})

describe('formatStatus', () => {
  it('prints the IPAM section with peer counts', () => {
    const text = formatStatus(status)
    expect(text.split('\n')).toEqual([
      '        Service: ipam',
      '           Peer: p-a(node-a)',
      '         Status: ready',
      '          Range: 10.32.0.0/12',
      '           Init: consensus=3',
      '          Peers: 3 (2 reachable, 1 unreachable)',
      '    Connections: 1',
      '    Allocations: 3 (349521 free here)'
    ])
  })

  it('shows the Kubernetes Node list it reads, or why it cannot', () => {
    const api = 'https://10.96.0.1/'
    expect(formatStatus({ ...status, kubernetes: { api, nodes: 3, error: null } })).toContain(`     Kubernetes: 3 nodes listed from ${api}`)
    const error = `cannot list nodes at ${api}: GET /api/v1/nodes: connect ECONNREFUSED 10.96.0.1:443`
    expect(formatStatus({ ...status, kubernetes: { api, nodes: null, error } })).toContain(`     Kubernetes: ${error}`)
  })

  it('adds pending work and conflicts only when there are some', () => {
    const text = formatStatus({ ...status, statusText: 'waiting for space', pendingAllocates: 2, conflicts: 1, badMessages: 4 })
    expect(text).toContain('        Pending: 2 allocates, 0 claims')
    expect(text).toContain('      Conflicts: 1')
    expect(text).toContain('   Bad messages: 4')
  })
})

describe('formatPs', () => {
  const a = (network: string, containerId: string, ifname: string, address: string, pod?: [string, string], pool = 'default'): AllocationInfo =>
    ({ network, containerId, ifname, pool, address, allocatedAt: 0, ...(pod === undefined ? {} : { podNamespace: pod[0], podName: pod[1] }) })

  it('prints aligned rows sorted by network and container, with the pool, short ids, pods as namespace/name', () => {
    const text = formatPs([
      a('weft', 'f00dfeed0123456789abcdef', 'eth0', '10.32.0.10', ['kube-system', 'dns-1']),
      a('weft', 'abc', 'net1', '10.32.0.9'),
      a('weft', 'abc', 'eth0', '10.32.0.200', ['default', 'web']),
      a('weft', 'abc', 'eth0', 'fd00:10:32::7', ['default', 'web'], 'default-v6'),
      a('lan-a', 'abc', 'eth0', '192.168.1.7', ['default', 'web'], 'lan')
    ])
    expect(text.split('\n')).toEqual([
      'lan-a  lan         abc           eth0  192.168.1.7    default/web',
      'weft   default     abc           eth0  10.32.0.200    default/web',
      'weft   default-v6  abc           eth0  fd00:10:32::7  default/web',
      'weft   default     abc           net1  10.32.0.9      -',
      'weft   default     f00dfeed0123  eth0  10.32.0.10     kube-system/dns-1'
    ])
  })

  it('prints nothing for no allocations', () => {
    expect(formatPs([])).toBe('')
  })
})

describe('formatRmpeer', () => {
  it('says how much was taken over from whom', () => {
    expect(formatRmpeer({ peer: 'p-c', nickname: 'node-c', takenOver: '349525' })).toBe('349525 IPs taken over from p-c(node-c)')
  })

  it('names a peer whose completed removal left no nickname by its id alone', () => {
    expect(formatRmpeer({ peer: 'p-c', nickname: '', takenOver: '0' })).toBe('0 IPs taken over from p-c')
  })
})
