/**
 * The `weft` command against three real agents (consensus=3 on loopback): status, status ipam, ps,
 * report, rmpeer of a stopped peer; and every command without an agent.
 */
import { spawn } from 'node:child_process'
import type { PeerLine, ReportResponse, StatusResponse } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, onlyAddress, waitFor, waitForSocket } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'
import { WEFT, weft } from '../src/cli.ts'

const RANGE = '10.99.0.0/16'
let cluster: Cluster
let nodes: AgentProcess[]

beforeAll(async () => {
  cluster = await Cluster.create('cli')
  const first = await cluster.spawn({ name: 'node-1', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=3' } })
  const second = await cluster.spawn({ name: 'node-2', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=3', WEFT_PEERS: first.addr } })
  const third = await cluster.spawn({ name: 'node-3', env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=3', WEFT_PEERS: `${first.addr},${second.addr}` } })
  nodes = [first, second, third]
  await Promise.all(nodes.map(async (n) => await waitForSocket(n)))
  await Promise.all(nodes.map(async (n) => await n.client.prime()))
  // The ring exists once primed; the peers' member records (their nicknames) follow by gossip.
  await waitFor('every agent to know every nickname', async () => (await Promise.all(nodes.map(async (n) => await n.client.status())))
    .every((st) => st.peers.map((p) => p.nickname).sort().join() === 'node-1,node-2,node-3'))
})
afterAll(async () => {
  await cluster?.teardown()
})

const at = (n: AgentProcess): string[] => ['--socket', n.socketPath]

describe('weft against running agents', () => {
  it('status prints the IPAM section', async () => {
    const r = await weft(['status', ...at(nodes[0]!)])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('         Status: ready\n')
    expect(r.stdout).toContain(`          Range: ${RANGE}\n`)
    expect(r.stdout).toMatch(/Peers: 3 \(3 reachable, 0 unreachable\)/)
  })

  it('status ipam prints the pool as a heading, then one line per peer, the local one first, shares of a third', async () => {
    for (const n of nodes) {
      const r = await weft(['status', 'ipam', ...at(n)])
      expect(r.code, r.stderr).toBe(0)
      const [heading, ...lines] = r.stdout.trimEnd().split('\n')
      expect(heading).toBe(`default ${RANGE} (default)`)
      expect(lines).toHaveLength(3)
      expect(lines[0]).toMatch(new RegExp(`^\\S+\\(${n.name}\\) +2184[56] IPs \\(33\\.3% of total\\) \\(0 active\\)$`))
      for (const l of lines.slice(1)) expect(l).toMatch(/^\S+\(node-\d\) +2184[56] IPs \(33\.3% of total\)$/)
    }
  })

  it('status --json and status ipam --json print the agent\'s answer', async () => {
    const st = JSON.parse((await weft(['status', '--json', ...at(nodes[1]!)])).stdout) as StatusResponse
    expect(st.peer.nickname).toBe('node-2')
    const pools = JSON.parse((await weft(['status', 'ipam', '--json', ...at(nodes[1]!)])).stdout) as Array<{ pool: string, range: string, peers: PeerLine[] }>
    expect(pools.map((p) => [p.pool, p.range])).toEqual([['default', RANGE]])
    expect(pools[0]?.peers.map((p) => p.nickname).sort()).toEqual(['node-1', 'node-2', 'node-3'])
    expect((await weft(['status', 'ipam', '--pool', 'default', ...at(nodes[1]!)])).stdout).toContain(`default ${RANGE}`)
    const unknown = await weft(['ps', '--pool', 'lan', ...at(nodes[1]!)])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('--pool lan: the agent serves no such pool (it serves default)')
  })

  it('ps lists allocations with their pods; --json too; report is JSON', async () => {
    const n = nodes[0]!
    const a = onlyAddress(await n.client.allocate({ network: 'weft', containerId: 'c0ffee0123456789', ifname: 'eth0', podNamespace: 'web', podName: 'front-0' }))
    await n.client.allocate({ network: 'weft', containerId: 'beef', ifname: 'net1' })
    const r = await weft(['ps', ...at(n)])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^weft +default +beef +net1 +10\.99\.\d+\.\d+ +-$/),
      expect.stringMatching(new RegExp(`^weft +default +c0ffee012345 +eth0 +${a.address.replaceAll('.', '\\.')} +web/front-0$`))
    ])
    const json = JSON.parse((await weft(['ps', '--json', ...at(n)])).stdout) as Array<{ network: string, containerId: string }>
    expect(json.map((x) => `${x.network}/${x.containerId}`).sort()).toEqual(['weft/beef', 'weft/c0ffee0123456789'])
    const report = JSON.parse((await weft(['report', ...at(n)])).stdout) as ReportResponse
    expect(report.allocations).toHaveLength(2)
    expect(report.ring.range).toBe(RANGE)
  })

  it('status ipam marks a stopped peer unreachable, and rmpeer takes over its ranges', async () => {
    const gone = nodes[2]!
    await cluster.stop(gone)
    await waitFor('node-3 to be unreachable from node-1', async () =>
      (await nodes[0]!.client.status()).peers.some((p) => p.nickname === 'node-3' && !p.reachable), 200, 100)
    const shown = await weft(['status', 'ipam', ...at(nodes[0]!)])
    expect(shown.stdout).toMatch(/\(node-3\) +2184[56] IPs \(33\.3% of total\) - unreachable!/)

    const r = await weft(['rmpeer', 'node-3', ...at(nodes[0]!)], {}, 150_000)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toMatch(/^2184[56] IPs taken over from \S+\(node-3\)$/)
  })
})

describe('weft without an agent', () => {
  it.each([['status'], ['status', 'ipam'], ['ps'], ['rmpeer', 'x'], ['prime'], ['report']])('%s says so, naming the socket, and fails', async (...args) => {
    const r = await weft([...args, '--socket', '/nonexistent/weft.sock'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('cannot reach the weft agent at /nonexistent/weft.sock')
  })

  it('takes the socket from WEFT_SOCKET', async () => {
    const r = await weft(['ps'], { WEFT_SOCKET: '/nonexistent/env.sock' })
    expect(r.stderr).toContain('/nonexistent/env.sock')
  })

  it('answers usage errors with 2 and --help with 0', async () => {
    expect((await weft(['frobnicate'])).code).toBe(2)
    const help = await weft(['rmpeer', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('usage: weft rmpeer')
  })
})

describe('weft agent', () => {
  it('stops at start with a bad variable, naming it', async () => {
    const r = await weft(['agent'], { IPALLOC_RANGE: '10.99.0.0/33', WEFT_DATA_DIR: '/nonexistent', WEFT_SOCKET: '/nonexistent/w.sock' })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('IPALLOC_RANGE')
  })

  it('serves on --socket and exits 0 on SIGTERM', async () => {
    const dir = cluster.dir
    const socket = `${dir}/cli-agent.sock`
    const child = spawn(WEFT, ['agent', '--socket', socket], {
      env: { PATH: process.env.PATH ?? '', IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=1', WEFT_DATA_DIR: `${dir}/cli-agent`, WEFT_LISTEN: '/ip4/127.0.0.1/tcp/0', WEFT_LOG_LEVEL: 'warn' },
      stdio: 'ignore'
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      await waitFor('weft agent to answer', async () => (await weft(['status', '--socket', socket])).code === 0, 100, 100)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
