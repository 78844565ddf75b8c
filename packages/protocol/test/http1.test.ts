import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { exchange, parseAnswer } from '../src/http1.ts'

const timeout = (): Error => new Error('timed out')

describe('parseAnswer', () => {
  it('reads bodies sized by Content-Length, chunked, or running to the end', () => {
    expect(parseAnswer(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra'), '/p')).toEqual({ status: 200, body: '{}' })
    expect(parseAnswer(Buffer.from('HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'), '/p')).toEqual({ status: 503, body: '{"a":1}' })
    expect(parseAnswer(Buffer.from('HTTP/1.0 404 Not Found\r\n\r\nnope'), '/p')).toEqual({ status: 404, body: 'nope' })
  })

  it.each([
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n', /incomplete HTTP head/],
    ['SMTP ready\r\n\r\n', /bad status line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}', /shorter than its Content-Length/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /malformed chunked body/]
  ])('names what is wrong with %j', (raw, message) => {
    expect(() => parseAnswer(Buffer.from(raw), '/v1/status')).toThrow(message)
  })
})

describe('exchange', () => {
  let dir: string | null = null
  let server: Server | null = null
  afterEach(async () => {
    await new Promise<void>(resolve => { if (server === null) resolve(); else server.close(() => { resolve() }) })
    if (dir !== null) await rm(dir, { recursive: true, force: true })
    server = null
    dir = null
  })

  it('talks to a real HTTP server on a unix socket, chunked answers included', async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-http1-'))
    const path = join(dir, 's.sock')
    server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => { body += c.toString() })
      req.on('end', () => {
        res.writeHead(201, { 'Content-Type': 'application/json' })
        res.write(`{"method":"${req.method ?? ''}",`)
        res.end(`"url":"${req.url ?? ''}","body":${body === '' ? 'null' : body}}`)
      })
    })
    await new Promise<void>(resolve => server!.listen(path, resolve))
    const post = await exchange(path, 'POST', '/v1/x', '{"k":"ü"}', 5_000, timeout)
    expect(post.status).toBe(201)
    expect(JSON.parse(post.body)).toEqual({ method: 'POST', url: '/v1/x', body: { k: 'ü' } })
    const get = await exchange(path, 'GET', '/v1/y', undefined, 5_000, timeout)
    expect(JSON.parse(get.body)).toEqual({ method: 'GET', url: '/v1/y', body: null })
  })
})
