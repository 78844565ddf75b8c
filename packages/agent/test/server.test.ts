import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import { join } from 'node:path'
import { ApiError, createClient, MAX_REQUEST_BYTES } from '@weft/protocol'
import { makeTempDir, removeTempDir } from '@weft/testkit'
import { RequestError } from '../src/errors.ts'
import { ChunkedBody, parseHead } from '../src/http-request.ts'
import type { RequestHead } from '../src/http-request.ts'
import { createLogger } from '../src/log.ts'
import { errnoError } from '../src/pipe-handle.ts'
import { startSocketServer } from '../src/server.ts'
import type { Route, SocketServer } from '../src/server.ts'

let dir: string
let path: string
let server: SocketServer | null
let release: (() => void) | undefined
const log = createLogger('fatal')

/** Echoes its body; `/v1/slow` answers when the test says so; the others fail as their names say. */
const routes: Route[] = [
  { method: 'POST', path: '/v1/echo', handle: async body => ({ got: body ?? null }) },
  { method: 'GET', path: '/v1/status', handle: async () => ({ hello: 'world' }) },
  { method: 'POST', path: '/v1/slow', handle: async () => { await new Promise<void>(resolve => { release = resolve }); return { slow: true } } },
  { method: 'POST', path: '/v1/invalid', handle: async () => { throw new RequestError('name', 'not a name') } },
  { method: 'POST', path: '/v1/busy', handle: async () => { throw new ApiError(503, 'not-ready', 'later', true) } },
  { method: 'POST', path: '/v1/bug', handle: async () => { throw new Error('a bug') } },
  { method: 'POST', path: '/v1/small', maxBytes: 16, handle: async body => ({ got: body }) },
  // Larger than a unix socket's buffer: the kernel takes it in parts, and the close waits for the last.
  { method: 'GET', path: '/v1/big', handle: async () => ({ big: 'x'.repeat(4_000_000) }) },
  { method: 'POST', path: '/v1/throws', handle: () => { throw new RequestError('name', 'thrown before any promise') } }
]

beforeEach(async () => {
  release = undefined
  dir = await makeTempDir('server')
  path = join(dir, 'run', 'weft.sock')
  server = await startSocketServer(path, routes, log)
})
afterEach(async () => {
  await server?.close()
  await removeTempDir(dir)
})

/** Writes `parts` (each a separate write, `gapMs` apart), optionally half-closes, and reads the answer to the end. */
async function exchange (parts: Array<string | Buffer>, opts: { halfClose?: boolean, gapMs?: number } = {}): Promise<{ status: number, head: string, body: any, raw: string }> {
  return await new Promise((resolve, reject) => {
    const s = connect(path)
    const chunks: Buffer[] = []
    s.on('data', c => chunks.push(c))
    s.on('error', reject)
    s.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      const last = raw.lastIndexOf('HTTP/1.1 ')
      const split = raw.indexOf('\r\n\r\n', last)
      resolve({ status: Number(raw.slice(last + 9, last + 12)), head: raw.slice(last, split), body: JSON.parse(raw.slice(split + 4)), raw })
    })
    s.once('connect', async () => {
      for (const p of parts) {
        s.write(p)
        if (opts.gapMs !== undefined) await new Promise(resolve => setTimeout(resolve, opts.gapMs))
      }
      if (opts.halfClose === true) s.end()
    })
  })
}

const post = (route: string, body: string, extra = ''): string =>
  `POST ${route} HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

describe('the socket server', () => {
  it('serves the typed client, and a request split at every awkward place', async () => {
    const client = createClient({ socketPath: path })
    expect(await client.status()).toEqual({ hello: 'world' })
    const whole = post('/v1/echo', '{"a":[1,2,"é"]}')
    // Byte by byte: the blank line and the body each arrive in pieces.
    const res = await exchange([...Buffer.from(whole)].map(b => Buffer.from([b])))
    expect(res).toMatchObject({ status: 200, body: { got: { a: [1, 2, 'é'] } } })
    expect(res.head).toContain('Connection: close')
    expect(res.head).toMatch(/Content-Length: \d+/)
  })

  it('answers in full what the kernel takes only in parts, and a handler that throws before it returns a promise', async () => {
    const client = createClient({ socketPath: path })
    const answers = await Promise.all([1, 2, 3].map(async () => await exchange(['GET /v1/big HTTP/1.1\r\n\r\n'])))
    for (const res of answers) expect(res.body.big.length).toBe(4_000_000)
    await expect(client.check({ network: 'n', containerId: 'c', ifname: 'eth0' })).rejects.toThrow(/no route/)
    expect(await exchange([post('/v1/throws', '{}')])).toMatchObject({ status: 400, body: { error: { code: 'bad-request', message: 'name: thrown before any promise' } } })
  })

  it('reads a chunked body, answers Expect: 100-continue, and answers a half-closed request', async () => {
    const chunked = 'POST /v1/echo?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n'
    const res = await exchange([chunked, '4;ext=1\r\n{"a"\r\n', '5\r\n:"bc"\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n'], { halfClose: true })
    expect(res.raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true)
    expect(res).toMatchObject({ status: 200, body: { got: { a: 'bc' } } })
    expect(await exchange(['GET /v1/status HTTP/1.0\r\n\r\n'], { halfClose: true })).toMatchObject({ status: 200, body: { hello: 'world' } })
  })

  it('answers every bad request with an error body naming what was wrong', async () => {
    const cases: Array<[Array<string | Buffer>, number, string, RegExp]> = [
      [['GARBAGE\r\n\r\n'], 400, 'bad-request', /^request line: not "METHOD \/path HTTP\/1\.1"/],
      [['POST /v1/echo HTTP/1.1\r\nno colon here\r\n\r\n'], 400, 'bad-request', /^header 1: no "name: value"/],
      [['POST /v1/echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n'], 400, 'bad-request', /^Content-Length: not a byte count/],
      [['POST /v1/echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'], 400, 'bad-request', /given twice/],
      [['POST /v1/echo HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'], 400, 'bad-request', /together/],
      [['POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'], 400, 'bad-request', /only chunked/],
      [['POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'], 400, 'bad-request', /bad chunk size "zz"/],
      [['POST /v1/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX'], 400, 'bad-request', /does not end with CRLF/],
      [[`GET /v1/status HTTP/1.1\r\nX: ${'x'.repeat(20_000)}\r\n\r\n`], 400, 'bad-request', /^request head: larger than 16384 bytes/],
      [[post('/v1/echo', '{"a":')], 400, 'bad-request', /^body: not valid JSON/],
      [[post('/v1/small', '{"a":"0123456789abcdef"}')], 413, 'payload-too-large', /^body: larger than 16 bytes/],
      [['POST /v1/small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nx\r\n'], 413, 'payload-too-large', /larger than 16/],
      [[`POST /v1/echo HTTP/1.1\r\nContent-Length: ${MAX_REQUEST_BYTES + 1}\r\n\r\n`], 413, 'payload-too-large', /larger than 65536/],
      [[post('/v1/nope', '{}')], 404, 'not-found', /^no route POST \/v1\/nope$/],
      [[post('/v1/invalid', '{}')], 400, 'bad-request', /^name: not a name$/],
      [[post('/v1/busy', '{}')], 503, 'not-ready', /^later$/],
      [[post('/v1/bug', '{}')], 500, 'internal', /^a bug$/]
    ]
    for (const [parts, status, code, message] of cases) {
      const res = await exchange(parts)
      expect({ sent: String(parts[0]).slice(0, 60), status: res.status, code: res.body.error?.code }).toEqual({ sent: String(parts[0]).slice(0, 60), status, code })
      expect(res.body.error.message).toMatch(message)
      expect(res.body.error.retryable).toBe(code === 'not-ready')
    }
    // And it keeps serving.
    expect((await exchange([post('/v1/echo', '7')])).body).toEqual({ got: 7 })
  })

  it('on close drops silent connections, answers requests that arrive meanwhile as shutting-down, and finishes the one in flight', async () => {
    const slow = exchange([post('/v1/slow', '{}')])
    // Connections already open when the server closes: one silent, one halfway through its head.
    const silent = connect(path)
    const late = connect(path)
    await Promise.all([silent, late].map(async s => await new Promise(resolve => s.once('connect', resolve))))
    const silentClosed = new Promise(resolve => silent.once('close', resolve))
    silent.on('error', () => undefined)
    const whole = post('/v1/echo', '{}')
    late.write(whole.slice(0, 10))
    for (let i = 0; i < 100 && release === undefined; i++) await new Promise(resolve => setTimeout(resolve, 10))
    const closing = server!.close()
    server = null
    const answer = new Promise<string>(resolve => {
      const chunks: Buffer[] = []
      late.on('data', c => chunks.push(c))
      late.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    })
    late.write(whole.slice(10))
    expect(await answer).toMatch(/^HTTP\/1\.1 503 .*"code":"shutting-down".*"retryable":true/s)
    await silentClosed
    release?.()
    expect((await slow).body).toEqual({ slow: true })
    await closing
    await expect(exchange([post('/v1/echo', '{}')])).rejects.toThrow(/ENOENT|ECONNREFUSED/)
  })
})

describe('the request head and chunked body readers', () => {
  /** The head `text` as it arrives: its bytes, the blank line and a body after it. */
  const head = (text: string): RequestHead => parseHead(Buffer.from(`${text}\r\n\r\n{"body":1}`, 'latin1'), text.length)

  it('takes method, path without query, and the body framing', () => {
    expect(head('POST /v1/cni?debug HTTP/1.1\r\nHost: weft\r\ncontent-LENGTH:  12 \r\nEXPECT: 100-Continue')).toEqual({ method: 'POST', path: '/v1/cni', contentLength: 12, chunked: false, expectContinue: true })
    expect(head('GET /v1/status HTTP/1.0')).toEqual({ method: 'GET', path: '/v1/status', contentLength: null, chunked: false, expectContinue: false })
    expect(head('POST /v1/echo HTTP/1.1\r\nTransfer-Encoding:\tChunked \r\nX-Colon: a:b')).toEqual({ method: 'POST', path: '/v1/echo', contentLength: null, chunked: true, expectContinue: false })
    for (const bad of ['GET /v1/status HTTP/2.0', 'GET /v1/status HTTP/1.1 ', 'get /v1/status HTTP/1.1', 'GET  HTTP/1.1', 'GET /a b HTTP/1.1', 'GET /v1/status', `${'A'.repeat(17)} / HTTP/1.1`, `GET /${'x'.repeat(8000)} HTTP/1.1`]) {
      expect(() => head(bad), bad).toThrow(/^request line: not "METHOD \/path HTTP\/1\.1"/)
    }
    expect(() => head(`GET /${'x'.repeat(7999)} HTTP/1.1`)).not.toThrow()
    expect(() => head('GET / HTTP/1.1\r\n: no name')).toThrow(/^header 1: no "name: value": ": no name"$/)
    expect(() => head('GET / HTTP/1.1\r\nA: b\r\nno colon\r\nC: d:e')).toThrow(/^header 2: no "name: value": "no colon"$/)
    expect(() => head('POST / HTTP/1.1\r\nContent-Length:  1 2 ')).toThrow(/^Content-Length: not a byte count: "1 2"$/)
    expect(() => head(`POST / HTTP/1.1\r\nContent-Length: ${'9'.repeat(16)}`)).toThrow(/not a byte count/)
    expect(head(`POST / HTTP/1.1\r\nContent-Length: ${'9'.repeat(15)}`).contentLength).toBe(999_999_999_999_999)
  })

  it('decodes chunks however they are split, and bounds the data', () => {
    const wire = Buffer.from('3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n')
    for (let cut = 0; cut <= wire.length; cut++) {
      const b = new ChunkedBody(100)
      const first = b.push(wire.subarray(0, cut))
      const body = first ?? b.push(wire.subarray(cut))
      expect(body?.toString()).toBe('abc0123456789')
    }
    expect(() => new ChunkedBody(12).push(wire)).toThrow(/larger than 12 bytes/)
    expect(() => new ChunkedBody(100).push(Buffer.from('1'.repeat(2000)))).toThrow(/too long/)
  })
})

describe('the pipe handle\'s failures', () => {
  it('names an errno by its code, and a failure without one by its number', () => {
    expect(errnoError(-2, 'listen /x')).toMatchObject({ message: 'listen /x: ENOENT', code: 'ENOENT', errno: -2 })
    // An accept that brought no handle reports 0: Node's name lookup would throw for it.
    const none = errnoError(0, 'accept')
    expect(none).toMatchObject({ message: 'accept: failed without an errno (0)', errno: 0 })
    expect(none.code).toBeUndefined()
  })
})
