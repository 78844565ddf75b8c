/**
 * HTTP/1.1 + JSON on a unix socket. The directory is made root-only (0700) and the socket 0600; a
 * stale socket file is removed only when nothing answers on it. Bodies are bounded, errors are
 * always an ErrorBody.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { chmod, lstat, mkdir, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ApiError, MAX_REQUEST_BYTES } from '@weft/protocol'
import type { ErrorBody } from '@weft/protocol'
import { RequestError, SocketError } from './errors.ts'
import type { Logger } from './log.ts'

export interface Route {
  readonly method: 'GET' | 'POST'
  readonly path: string
  /** `body` is the parsed JSON, or undefined when the request had none. */
  readonly handle: (body: unknown) => Promise<unknown>
  /** Bound on the body; MAX_REQUEST_BYTES unless given. */
  readonly maxBytes?: number
}

export interface SocketServer {
  /** Stops accepting, answers requests that arrive meanwhile with shutting-down, waits for in-flight ones. */
  close: () => Promise<void>
}

export async function startSocketServer (path: string, routes: readonly Route[], log: Logger): Promise<SocketServer> {
  // Created root-only; an existing directory (which may be shared) is left as it is.
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await removeStaleSocket(path)
  let closing = false
  const table = new Map(routes.map(r => [`${r.method} ${r.path}`, r]))
  const server = createServer((req, res) => {
    if (closing) {
      send(res, new ApiError(503, 'shutting-down', 'the agent is shutting down', true))
      return
    }
    serve(req, res, table, log).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'socket request failed')
      if (!res.headersSent) send(res, new ApiError(500, 'internal', (err as Error).message))
    })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 60_000
  // Bound under a temporary name, made root-only, then moved into place: the socket is never
  // reachable at `path` with looser permissions, even in a directory that already existed.
  const staging = `${path}.${process.pid}.tmp`
  await unlink(staging).catch(() => undefined)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(staging, () => {
      server.off('error', reject)
      resolve()
    })
  })
  await chmod(staging, 0o600)
  await rename(staging, path)
  return {
    close: async () => {
      closing = true
      await new Promise<void>(resolve => server.close(() => resolve()))
      await unlink(path).catch(() => undefined)
    }
  }
}

async function serve (req: IncomingMessage, res: ServerResponse, table: Map<string, Route>, log: Logger): Promise<void> {
  const url = (req.url ?? '').split('?')[0] ?? ''
  const route = table.get(`${req.method ?? ''} ${url}`)
  if (route === undefined) {
    req.resume()
    send(res, new ApiError(404, 'not-found', `no route ${req.method ?? ''} ${url}`))
    return
  }
  let body: unknown
  try {
    body = await readJson(req, route.maxBytes ?? MAX_REQUEST_BYTES)
  } catch (err) {
    if (err instanceof ApiError) {
      // The rest of an oversized body is not read: close the connection after answering.
      res.setHeader('Connection', 'close')
      send(res, err)
      return
    }
    throw err
  }
  try {
    sendJson(res, 200, await route.handle(body))
  } catch (err) {
    if (err instanceof RequestError) {
      send(res, new ApiError(400, 'bad-request', err.message))
    } else if (err instanceof ApiError) {
      send(res, err)
    } else {
      log.error({ err, route: url }, 'request handler failed')
      send(res, new ApiError(500, 'internal', (err as Error).message))
    }
  }
}

async function readJson (req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > maxBytes) throw tooLarge(maxBytes)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > maxBytes) throw tooLarge(maxBytes)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ApiError(400, 'bad-request', `body: not valid JSON (${(err as Error).message})`)
  }
}

function tooLarge (maxBytes: number): ApiError {
  return new ApiError(413, 'payload-too-large', `body: larger than ${maxBytes} bytes`)
}

function send (res: ServerResponse, err: ApiError): void {
  const body: ErrorBody = { error: { code: err.code, message: err.message, retryable: err.retryable } }
  sendJson(res, err.status, body)
}

function sendJson (res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
  res.end(text)
}

/** Removes `path` if it is a socket nobody answers on; refuses if an agent is live there or it is not a socket. */
async function removeStaleSocket (path: string): Promise<void> {
  let info
  try {
    info = await lstat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!info.isSocket()) throw new SocketError(`${path} exists and is not a socket; refusing to replace it`)
  const live = await new Promise<boolean>(resolve => {
    const s = connect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
  if (live) throw new SocketError(`another process is serving on ${path}; is an agent already running?`)
  await unlink(path)
}
