/**
 * The native plugin's own part: what it sends to the agent, and what it answers when the agent is
 * silent, goes away mid-answer or answers something else (sockets this test serves), and that the
 * agent's reason, not the plugin's deadline, reaches the runtime (real agents).
 */
import { createServer } from 'node:net'
import fc from 'fast-check'
import type { Server, Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, Cluster, cniEnv, execPlugin, makeTempDir, removeTempDir, WEFT_CNI } from '@weft/testkit'
import type { PluginRun } from '@weft/testkit'

let dir: string
let cluster: Cluster
const servers: Server[] = []

beforeAll(async () => {
  await buildPlugin()
  dir = await makeTempDir('cni-shim')
  cluster = await Cluster.create('cni-shim')
})
afterAll(async () => {
  await Promise.all(servers.map(async (s) => await new Promise((resolve) => s.close(resolve))))
  await cluster?.teardown()
  if (dir !== undefined) await removeTempDir(dir)
})

let seq = 0
/** A unix socket that hands every connection, and the bytes of the request so far, to `serve`. */
async function socketServing (serve: (socket: Socket, request: string) => void): Promise<string> {
  const path = join(dir, `s${++seq}.sock`)
  const server = createServer((socket) => {
    let request = ''
    socket.on('data', (c: Buffer) => {
      request += c.toString('utf8')
      serve(socket, request)
    })
    socket.on('error', () => {})
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(path, resolve))
  return path
}

/** The HTTP body of a request once all of it has arrived, else undefined. */
function wholeBody (request: string): string | undefined {
  const split = request.indexOf('\r\n\r\n')
  const length = Number(/content-length: (\d+)/i.exec(request)?.[1] ?? NaN)
  const body = split < 0 ? '' : request.slice(split + 4)
  return Buffer.byteLength(body) >= length ? body : undefined
}

const conf = (socket: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'shim', type: 'weft', ipam: { type: 'weft', socket }, ...extra })

async function add (socket: string, env: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<PluginRun> {
  return await execPlugin(WEFT_CNI, { ...cniEnv({ command: 'ADD', containerId: `c${++seq}`, ifname: 'eth0', netns: '/var/run/netns/x' }), ...env }, conf(socket, extra))
}

describe('what the plugin sends', () => {
  it('forwards every CNI_ variable and stdin as they are, and nothing else; prints the output with the exit status', async () => {
    let received: Record<string, unknown> = {}
    const path = await socketServing((socket, request) => {
      const body = wholeBody(request)
      if (body === undefined) return
      received = JSON.parse(body) as Record<string, unknown>
      const answer = JSON.stringify({ exitCode: 0, output: { cniVersion: '1.0.0', ips: [{ address: '10.9.0.2/16' }], dns: {} } })
      socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(answer)}\r\n\r\n${answer}`)
    })
    const stdin = conf(path, { note: 'quote " backslash \\ tab \t newline \n é ✓ \u0001' })
    const env = { ...cniEnv({ command: 'ADD', containerId: 'c-1', ifname: 'eth0', netns: '/var/run/netns/x', args: 'K8S_POD_NAME=a=b;X="y"' }), CNI_EXTRA: 'ünï', HOME: '/root', WEFT_CNI_TIMEOUT_MS: '4000' }
    const r = await execPlugin(WEFT_CNI, env, stdin)
    expect(r.code, r.stdout).toBe(0)
    expect(r.stdout).toBe('{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/16"}],"dns":{}}\n')
    const { HOME: _home, WEFT_CNI_TIMEOUT_MS: _timeout, ...cniOnly } = env
    expect(received).toEqual({ env: cniOnly, stdin, deadlineMs: 4000 })
  })

  it('exits with the agent\'s status and prints nothing for an empty output', async () => {
    const path = await socketServing((socket, request) => {
      if (wholeBody(request) === undefined) return
      const answer = '{"exitCode":0,"output":null}'
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`)
    })
    const r = await add(path)
    expect(r).toMatchObject({ code: 0, stdout: '' })
  })
})

describe('what the plugin reads of the config', () => {
  /**
   * What the plugin must answer where no agent listens, as JSON.parse sees the text; null for the
   * default socket, where an agent of this host might answer.
   */
  function expected (text: string): number | null {
    let v: unknown
    try {
      v = JSON.parse(text)
    } catch {
      return 6
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 6
    const ipam = (v as Record<string, unknown>).ipam
    if (typeof ipam !== 'object' || ipam === null || Array.isArray(ipam)) return 7
    const socket = (ipam as Record<string, unknown>).socket
    if (socket === undefined) return null
    const usable = typeof socket === 'string' && socket.startsWith('/') && Buffer.byteLength(socket) <= 107 && !socket.includes('\0')
    return usable ? 11 : 7
  }

  it('agrees with JSON.parse on what is JSON, and finds ipam.socket wherever JSON puts it', async () => {
    const missing = join(dir, 'nobody-here.sock')
    const valid = JSON.stringify({ cniVersion: '1.0.0', name: 'n', ipam: { type: 'weft', socket: missing, routes: [{ dst: '0.0.0.0/0' }] }, args: { a: [1, 2.5e3, -0.1, true, null, 'x\\u00e9'] } })
    const texts = fc.oneof(
      // The valid config cut, with a character dropped, repeated or swapped for a JSON-ish one.
      fc.tuple(fc.nat(valid.length - 1), fc.constantFrom('', '"', '\\', '{', '}', ',', ':', ' ', '\u0001', 'é', 'u', '0')).map(([at, c]) => valid.slice(0, at) + c + valid.slice(at + 1)),
      fc.nat(valid.length).map((at) => valid.slice(0, at)),
      // Any JSON value, and configs whose ipam and socket are arbitrary values, escaped any way.
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify({ name: 'n', ipam: { type: 'weft', socket: v } })),
      fc.constantFrom(missing, missing.replace('/', '\\/'), missing.replace(/./g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`))
        .map((sock) => `{"ipam":{"socket":"/elsewhere","socket":"${sock}"}, "ipam" : {"socket" : "${sock}"}}`)
    )
    await fc.assert(fc.asyncProperty(texts, async (text) => {
      const r = await execPlugin(WEFT_CNI, cniEnv({ command: 'ADD', containerId: 'c', ifname: 'eth0', netns: '/var/run/netns/x' }), text)
      const code = expected(text)
      if (code === null) expect(r.json?.code, text).not.toBe(6)
      else expect(r.json?.code, text).toBe(code)
    }), { numRuns: 500, seed: 9 })
  })
})

describe('an agent that does not answer as it should', () => {
  it('silent past the deadline: 11 naming the socket (50 for STATUS)', async () => {
    const path = await socketServing(() => {})
    const r = await add(path, { WEFT_CNI_TIMEOUT_MS: '300' })
    expect(r.code).toBe(1)
    expect(r.json).toMatchObject({ code: 11, msg: `the weft agent at ${path} did not answer within 300 ms` })
    const status = await execPlugin(WEFT_CNI, { ...cniEnv({ command: 'STATUS' }), WEFT_CNI_TIMEOUT_MS: '300' }, conf(path, { cniVersion: '1.1.0' }))
    expect(status.json).toMatchObject({ code: 50, msg: expect.stringContaining(path) })
  })

  it('closed mid-answer, or before any: 11 naming the socket', async () => {
    const cut = await socketServing((socket, request) => {
      if (wholeBody(request) !== undefined) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"exitCode":0,')
    })
    const gone = await socketServing((socket) => { socket.destroy() })
    for (const path of [cut, gone]) {
      const r = await add(path)
      expect(r.code).toBe(1)
      expect(r.json).toMatchObject({ code: 11, msg: expect.stringContaining(`cannot reach the weft agent at ${path}`) })
    }
  })

  it('an answer that is not the API: 999, saying so', async () => {
    const path = await socketServing((socket, request) => {
      if (wholeBody(request) !== undefined) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nnot json')
    })
    const r = await add(path)
    expect(r.json).toMatchObject({ code: 999, msg: `the weft agent at ${path} answered POST /v1/cni with a body that is not a JSON object` })
  })

  it('an error answer keeps the agent\'s words: retryable is 11, anything else 999', async () => {
    const answering = async (error: Record<string, unknown>, status: number): Promise<string> => await socketServing((socket, request) => {
      if (wholeBody(request) === undefined) return
      const body = JSON.stringify({ error })
      socket.end(`HTTP/1.1 ${status} X\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    })
    const stopping = await add(await answering({ code: 'shutting-down', message: 'the agent is "shutting" down', retryable: true }, 503))
    expect(stopping.json).toMatchObject({ code: 11, msg: 'the agent is "shutting" down', details: 'agent error shutting-down' })
    const old = await add(await answering({ code: 'not-found', message: 'no route POST /v1/cni', retryable: false }, 404))
    expect(old.json).toMatchObject({ code: 999, msg: 'no route POST /v1/cni' })
  })
})

describe('the agent\'s reason within the plugin\'s deadline', () => {
  it('an agent awaiting consensus, with its own 30 s bound, answers a plugin that waits 3 s with its reason', async () => {
    const lone = await cluster.start({ name: 'lone', env: { IPALLOC_RANGE: '10.97.0.0/16', IPALLOC_INIT: 'consensus=2' } })
    const r = await add(lone.socketPath, { WEFT_CNI_TIMEOUT_MS: '3000' })
    expect(r.json).toMatchObject({ code: 11, msg: 'awaiting consensus (quorum: 2, known: 1)' })
    await cluster.stop(lone)
  })

  it('an exhausted range says so', async () => {
    const tiny = await cluster.start({ name: 'tiny', env: { IPALLOC_RANGE: '10.96.0.0/30', IPALLOC_INIT: 'consensus=1' } })
    await tiny.client.prime()
    // A /30 has two addresses to give: this node's gateway of the network, and one pod.
    expect((await add(tiny.socketPath)).code).toBe(0)
    const r = await add(tiny.socketPath, { WEFT_CNI_TIMEOUT_MS: '3000' })
    expect(r.json).toMatchObject({ code: 11, msg: 'no free addresses left in 10.96.0.0/30 on any peer' })
    await cluster.stop(tiny)
  })
})
