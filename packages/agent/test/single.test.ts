import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { request } from 'node:http'
import { spawnSync } from 'node:child_process'
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiError, MAX_REQUEST_BYTES } from '@weft/protocol'
import { Cluster, exitOf, freePort, onlyAddress, waitFor } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
beforeEach(async () => { cluster = await Cluster.create('single') })
afterEach(async () => { await cluster.teardown() })

/** A raw request, for bodies the typed client would never send. */
async function raw (socketPath: string, method: string, path: string, body?: string | Buffer): Promise<{ status: number, json: any }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
        } catch (err) {
          reject(err)
        }
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function apiError (p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(ApiError)
  return err as ApiError
}

async function solo (name = 'solo', env: Record<string, string> = {}): Promise<AgentProcess> {
  return await cluster.start({ name, env: { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.40.0.0/24', ...env } })
}

describe('one agent with consensus=1', () => {
  it('allocates, repeats, checks, lists, releases and collects garbage over the socket', async () => {
    const a = await solo()
    const first = onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p1' }))
    expect(first).toEqual({ pool: 'default', address: expect.stringMatching(/^10\.40\.0\.\d+$/), prefixLength: 24, range: '10.40.0.0/24' })
    expect(onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'c1', ifname: 'eth0' }))).toEqual(first)
    const second = onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'c1', ifname: 'net1' }))
    expect(second.address).not.toBe(first.address)
    const wanted = onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'c3', ifname: 'eth0', addresses: ['10.40.0.200'] }))
    expect(wanted.address).toBe('10.40.0.200')
    expect(onlyAddress(await a.client.check({ network: 'weft', containerId: 'c1', ifname: 'eth0' }))).toEqual(first)

    const { allocations } = await a.client.allocations()
    expect(allocations.map(x => [x.containerId, x.ifname, x.address])).toEqual([
      ['c1', 'eth0', first.address], ['c1', 'net1', second.address], ['c3', 'eth0', '10.40.0.200']
    ])
    expect(allocations[0]).toMatchObject({ podNamespace: 'ns', podName: 'p1' })

    expect(await a.client.release({ network: 'weft', containerId: 'c1', ifname: 'net1' })).toEqual({ released: [second.address] })
    expect(await a.client.release({ network: 'weft', containerId: 'c1', ifname: 'net1' })).toEqual({ released: [] })
    expect((await apiError(a.client.check({ network: 'weft', containerId: 'c1', ifname: 'net1' }))).code).toBe('unknown-attachment')

    const gc = await a.client.gc({ network: 'weft', valid: [{ containerId: 'c1', ifname: 'eth0' }] })
    expect(gc.released.map(x => x.address)).toEqual(['10.40.0.200'])
    expect((await a.client.allocations()).allocations.map(x => x.address)).toEqual([first.address])

    const status = await a.client.status()
    expect(status).toMatchObject({ status: 'ready', range: '10.40.0.0/24', rangeSize: '256', init: 'consensus=1', allocations: 1 })
    expect(status.peers).toEqual([{ id: status.peer.id, nickname: 'solo', addresses: '256', percentage: 100, free: status.freeLocal, active: 1, reachable: true, local: true }])
    expect((await a.client.report()).ring.entries.length).toBeGreaterThan(0)
  })

  it('hands out every usable address of a small range exactly once, then says exhausted', async () => {
    // With nobody to ask for space, the last request waits out the request timeout: keep it short.
    const a = await solo('solo', { WEFT_REQUEST_TIMEOUT_MS: '1000' })
    const got = await Promise.all(Array.from({ length: 254 }, async (_, i) => (onlyAddress(await a.client.allocate({ network: 'weft', containerId: `c${i}`, ifname: 'eth0' }))).address))
    expect(new Set(got).size).toBe(254)
    expect(got).not.toContain('10.40.0.0')
    expect(got).not.toContain('10.40.0.255')
    const err = await apiError(a.client.allocate({ network: 'weft', containerId: 'one-more', ifname: 'eth0' }))
    expect(err.code).toBe('exhausted')
  })

  it('rejects malformed requests with clear errors and keeps serving', async () => {
    const a = await solo()
    const s = a.socketPath
    const cases: Array<[string, string, string | Buffer | undefined, number, string, RegExp]> = [
      ['POST', '/v1/allocate', '{"containerId":', 400, 'bad-request', /not valid JSON/],
      ['POST', '/v1/allocate', '[]', 400, 'bad-request', /^body: expected a JSON object/],
      ['POST', '/v1/allocate', undefined, 400, 'bad-request', /^body: expected a JSON object, got nothing/],
      ['POST', '/v1/allocate', '{"containerId":"c","ifname":"eth0"}', 400, 'bad-request', /^network: expected a string, got nothing/],
      ['POST', '/v1/allocate', '{"network":"-neta","containerId":"c","ifname":"eth0"}', 400, 'bad-request', /^network: "-neta" is not a network name: it must match/],
      ['POST', '/v1/allocate', '{"network":"a/b","containerId":"c","ifname":"eth0"}', 400, 'bad-request', /^network: "a\/b" is not a network name/],
      ['POST', '/v1/allocate', `{"network":"${'n'.repeat(254)}","containerId":"c","ifname":"eth0"}`, 400, 'bad-request', /^network: .*longer than 253 characters/],
      ['POST', '/v1/release', '{"network":"bad name","containerId":"c","ifname":"eth0"}', 400, 'bad-request', /^network: "bad name"/],
      ['POST', '/v1/check', '{"network":7,"containerId":"c","ifname":"eth0"}', 400, 'bad-request', /^network: expected a string, got a number/],
      ['POST', '/v1/allocate', '{"network":"weft","ifname":"eth0"}', 400, 'bad-request', /^containerId: /],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"../etc","ifname":"eth0"}', 400, 'bad-request', /^containerId: .*must match/],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"c","ifname":"a-very-long-ifname"}', 400, 'bad-request', /^ifname: /],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"c","ifname":"eth0","addresses":["10.41.0.1"]}', 400, 'bad-request', /^addresses\[0\]: .*outside the range 10\.40\.0\.0\/24/],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"c","ifname":"eth0","addresses":[7]}', 400, 'bad-request', /^addresses\[0\]: expected a string/],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"c","ifname":"eth0","addresses":["10.40.0.1","10.40.0.2"]}', 400, 'bad-request', /^addresses\[1\]: .*at most one per pool/],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"c","ifname":"eth0","address":"10.40.0.1"}', 400, 'bad-request', /^address: not a field any more/],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"c","ifname":"eth0","pools":["Bad_Name"]}', 400, 'bad-request', /^pools\[0\]: "Bad_Name" is not a pool name/],
      ['POST', '/v1/allocate', '{"network":"weft","containerId":"c","ifname":"eth0","pools":["lan"]}', 404, 'unknown-pool', /no pool "lan" \(it serves default\)/],
      ['POST', '/v1/gc', '{"valid":[]}', 400, 'bad-request', /^network: expected a string, got nothing/],
      ['POST', '/v1/gc', '{"network":".x","valid":[]}', 400, 'bad-request', /^network: "\.x" is not a network name/],
      ['POST', '/v1/gc', '{"network":"weft","valid":[{"containerId":"c"}]}', 400, 'bad-request', /^valid\[0\]\.ifname: /],
      ['POST', '/v1/allocate', Buffer.alloc(MAX_REQUEST_BYTES + 1, 'x'), 413, 'payload-too-large', /larger than/],
      ['GET', '/v1/nope', undefined, 404, 'not-found', /no route GET \/v1\/nope/],
      ['GET', '/v1/allocate', undefined, 404, 'not-found', /no route/],
      ['POST', '/v1/rmpeer', '{"peer":"nobody"}', 404, 'unknown-peer', /"nobody"/]
    ]
    for (const [method, path, body, status, code, message] of cases) {
      const res = await raw(s, method, path, body)
      expect({ path, body: String(body).slice(0, 60), status: res.status, code: res.json.error?.code }).toEqual({ path, body: String(body).slice(0, 60), status, code })
      expect(res.json.error.message).toMatch(message)
      expect(res.json.error.retryable).toBe(false)
    }
    // Nothing was allocated by any of them.
    expect((await a.client.allocations()).allocations).toEqual([])
    expect((onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'after', ifname: 'eth0' }))).address).toMatch(/^10\.40\.0\./)
  })

  it('keeps the socket root-only and refuses to start beside a live agent', async () => {
    const a = await solo()
    expect((await stat(a.socketPath)).mode & 0o777).toBe(0o600)
    expect((await stat(a.dataDir)).mode & 0o777).toBe(0o700)
    expect((await stat(join(a.dataDir, 'node.key'))).mode & 0o777).toBe(0o600)
    const twin = await cluster.spawn({ name: 'twin', dataDir: join(cluster.dir, 'twin'), env: { IPALLOC_INIT: 'consensus=1', WEFT_SOCKET: a.socketPath } })
    expect(await exitOf(twin)).toBe(1)
    expect(twin.output.join('\n')).toContain(`another process is serving on ${a.socketPath}`)
    expect((await a.client.status()).peer.nickname).toBe('solo')
  })

  it('replaces a stale socket file that nobody answers on', async () => {
    const dataDir = join(cluster.dir, 'stale')
    const path = join(dataDir, 'weft.sock')
    await mkdir(dataDir, { recursive: true })
    // A process that dies while listening leaves its socket file behind, as a crashed agent does.
    const dead = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
    expect(dead.signal).toBe('SIGKILL')
    expect((await stat(path)).isSocket()).toBe(true)
    const a = await cluster.start({ name: 'stale', dataDir, env: { IPALLOC_INIT: 'consensus=1' } })
    expect((await a.client.status()).peer.nickname).toBe('stale')
  })

  it('exits 2 naming the variable on a bad configuration', async () => {
    const a = await cluster.spawn({ name: 'bad', env: { IPALLOC_RANGE: '10.32.0.1/12' } })
    expect(await exitOf(a)).toBe(2)
    expect(a.output.join('\n')).toContain('IPALLOC_RANGE="10.32.0.1/12"')
  })

  it('refuses a data dir made for another range, naming both, and keeps its allocations', async () => {
    const a = await solo('ranged')
    const held = onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'keep', ifname: 'eth0' }))
    expect(await cluster.stop(a)).toBe(0)
    const wrong = await cluster.spawn({ name: 'ranged', dataDir: a.dataDir, env: { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.50.0.0/24' } })
    expect(await exitOf(wrong)).toBe(1)
    expect(wrong.output.join('\n')).toMatch(/10\.40\.0\.0\/24.*10\.50\.0\.0\/24/)
    const again = await cluster.start({ name: 'ranged', dataDir: a.dataDir, port: a.port, env: { IPALLOC_INIT: 'consensus=1', IPALLOC_RANGE: '10.40.0.0/24' } })
    expect(onlyAddress(await again.client.check({ network: 'weft', containerId: 'keep', ifname: 'eth0' }))).toEqual(held)
  })

  it('refuses a malformed swarm key file without printing it', async () => {
    const keyFile = join(cluster.dir, 'bad.key')
    await writeFile(keyFile, 'super-secret-not-a-key', { mode: 0o600 })
    const a = await cluster.spawn({ name: 'badkey', env: { WEFT_SWARM_KEY_FILE: keyFile } })
    expect(await exitOf(a)).toBe(1)
    const out = a.output.join('\n')
    expect(out).toContain(`WEFT_SWARM_KEY_FILE ${keyFile}: not a swarm key`)
    expect(out).not.toContain('super-secret')
  })

  it('serves Prometheus metrics, Weave names included', async () => {
    const port = await freePort()
    const a = await solo('metered', { WEFT_METRICS_ADDR: `127.0.0.1:${port}` })
    for (const c of ['m1', 'm2', 'm3']) onlyAddress(await a.client.allocate({ network: 'weft', containerId: c, ifname: 'eth0' }))
    const res = await fetch(`http://127.0.0.1:${port}/metrics`)
    expect(res.status).toBe(200)
    const text = await res.text()
    for (const line of [
      'weft_ips{state="local-used",pool="default"} 3', 'weave_ips{state="local-used",pool="default"} 3', 'weft_max_ips{pool="default"} 256', 'weave_max_ips{pool="default"} 256',
      'weft_ipam_unreachable_count{pool="default"} 0', 'weft_ipam_pending_allocates{pool="default"} 0', 'weave_ipam_pending_claims{pool="default"} 0',
      'weft_ipam_conflicts_total 0', 'weft_bad_messages_total 0'
    ]) expect(text.split('\n')).toContain(line)
    // The ring's first split is synced; an allocation alone is written without an fsync (store.ts).
    expect(text).toMatch(/^weft_store_commit_seconds_count\{durability="synced"\} [1-9]/m)
    expect(text).toMatch(/^weft_store_commit_seconds_count\{durability="written"\} [1-9]/m)
    // Requests make garbage; the young generation's collections are timed.
    for (let i = 0; i < 300; i++) await a.client.status()
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/^weft_gc_pause_seconds_count\{kind="minor"\} [1-9]/m)
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404)
  })

  it('on SIGTERM finishes in-flight requests, exits 0 and removes its socket; all acknowledged survive', async () => {
    const a = await solo('graceful')
    const acked: Array<[string, string]> = []
    const inflight = Array.from({ length: 40 }, async (_, i) => {
      try {
        acked.push([`g${i}`, (onlyAddress(await a.client.allocate({ network: 'weft', containerId: `g${i}`, ifname: 'eth0' }))).address])
      } catch (err) {
        // Refused because it arrived after the stop began: never acknowledged.
        expect((err as Error).name).toMatch(/ApiError|AgentUnavailableError/)
      }
    })
    await waitFor('some allocations answered', () => acked.length > 0, 200, 10)
    expect(await cluster.stop(a)).toBe(0)
    await Promise.all(inflight)
    await expect(stat(a.socketPath)).rejects.toThrow(/ENOENT/)
    const again = await solo('graceful')
    for (const [containerId, address] of acked) expect((onlyAddress(await again.client.check({ network: 'weft', containerId, ifname: 'eth0' }))).address).toBe(address)
  })

  it('serves an IPv6 range', async () => {
    const a = await solo('six', { IPALLOC_RANGE: 'fd00:10::/64' })
    const got = onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'v6', ifname: 'eth0' }))
    expect(got).toEqual({ pool: 'default', address: expect.stringMatching(/^fd00:10::[0-9a-f:]+$/), prefixLength: 64, range: 'fd00:10::/64' })
    const wanted = onlyAddress(await a.client.allocate({ network: 'weft', containerId: 'v6b', ifname: 'eth0', addresses: ['fd00:10::ffff:1'] }))
    expect(wanted.address).toBe('fd00:10::ffff:1')
    expect((await a.client.status()).rangeSize).toBe('18446744073709551616')
  })

  it('exits 1 with one line naming WEFT_LISTEN when its port is taken', async () => {
    const a = await solo('first')
    const b = await cluster.spawn({ name: 'second', port: a.port, env: { IPALLOC_INIT: 'consensus=1' } })
    expect(await exitOf(b)).toBe(1)
    const out = b.output.join('\n')
    expect(out).toContain(`weft agent: WEFT_LISTEN: cannot listen on /ip4/127.0.0.1/tcp/${a.port}: EADDRINUSE`)
    expect(out).not.toContain('    at ')
  })
})
