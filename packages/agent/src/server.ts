/**
 * HTTP/1.1 + JSON on a unix socket. The directory is made root-only (0700) and the socket 0600; a
 * stale socket file is removed only when nothing answers on it. Bodies are bounded, errors are
 * always an ErrorBody.
 *
 * Written over Node's pipe handle (pipe-handle.ts) rather than node:http or node:net: at one
 * allocation per request, the young-generation collections of the agent's heap are the tail of
 * allocate's latency, and they come once per so many bytes made and take as long as what they copy.
 * node:http's request, response and header objects were about 15 of 42 KiB of garbage per request;
 * a net.Socket then was about 4 KB more, and, outliving young collections once closed, most of what
 * each one copied. Every answer says `Connection: close` (the plugin, the CLI and the client all send
 * one request per connection), so there is no keep-alive or pipelining to track.
 */
import { STATUS_CODES } from 'node:http'
import { connect } from 'node:net'
import { chmod, lstat, mkdir, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ApiError, MAX_REQUEST_BYTES } from '@weft/protocol'
import type { ErrorBody } from '@weft/protocol'
import { RequestError, SocketError } from './errors.ts'
import { ChunkedBody, MAX_HEAD_BYTES, parseHead, tooLarge } from './http-request.ts'
import type { RequestHead } from './http-request.ts'
import type { Logger } from './log.ts'
import { errnoError, listenPipe, readPipe, readResult, writePipe } from './pipe-handle.ts'
import type { PipeHandle } from './pipe-handle.ts'

export interface Route {
  readonly method: 'GET' | 'POST'
  readonly path: string
  /** `body` is the parsed JSON, or undefined when the request had none; a throw is answered as a rejection is. */
  readonly handle: (body: unknown) => Promise<unknown>
  /** Bound on the body; MAX_REQUEST_BYTES unless given. */
  readonly maxBytes?: number
}

export interface SocketServer {
  /** Stops accepting, answers requests that arrive meanwhile with shutting-down, waits for in-flight ones. */
  close: () => Promise<void>
}

/** Bound from a connection's first byte to the end of its head, and to the end of its body. */
const HEADERS_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = 60_000
/** How often requests still arriving are held against those bounds. */
const SWEEP_MS = 2_000

interface Shared {
  /** Routes by method, then path. */
  readonly table: ReadonlyMap<string, ReadonlyMap<string, Route>>
  readonly log: Logger
  /** Connections whose request has not fully arrived. */
  readonly arriving: Arrivals
  /** Connections not yet closed. */
  open: number
  closing: boolean
  /** Called when the last connection closes once closing. */
  drained: (() => void) | null
  /**
   * Where each answer is put together for its one write, reused while the kernel takes answers
   * whole (a template string, flattened for the write, was about 0.5 KB of garbage per answer). One
   * it takes in part keeps this buffer until written; the next answer gets a fresh one.
   */
  answerBuf: Buffer
}

/** Answers up to this size are put together in `answerBuf`; larger ones (reports) are written as strings. */
const ANSWER_BYTES = 16 * 1024
const HEAD_END = '\r\nConnection: close\r\n\r\n'
/** An answer's head up to its Content-Length value, by status: made once each. */
const heads = new Map<number, string>()

function headOf (status: number): string {
  let head = heads.get(status)
  if (head === undefined) heads.set(status, (head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: `))
  return head
}

export async function startSocketServer (path: string, routes: readonly Route[], log: Logger): Promise<SocketServer> {
  // Created root-only; an existing directory (which may be shared) is left as it is.
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await removeStaleSocket(path)
  const table = new Map<string, Map<string, Route>>()
  for (const r of routes) table.set(r.method, (table.get(r.method) ?? new Map<string, Route>()).set(r.path, r))
  const shared: Shared = { table, log, arriving: new Arrivals(), open: 0, closing: false, drained: null, answerBuf: Buffer.allocUnsafeSlow(ANSWER_BYTES) }
  // Bound under a temporary name, made root-only, then moved into place: the socket is never
  // reachable at `path` with looser permissions, even in a directory that already existed.
  const staging = `${path}.${process.pid}.tmp`
  await unlink(staging).catch(() => undefined)
  const server = listenPipe(staging, (err, client) => {
    // A failed accept (out of descriptors, say) costs that connection only.
    if (err !== 0 || client === undefined) log.warn({ err: errnoError(err, 'accept') }, 'socket server: accept failed')
    else new Exchange(client, shared).start()
  })
  try {
    await chmod(staging, 0o600)
    await rename(staging, path)
  } catch (err) {
    server.close()
    throw err
  }
  const sweep = setInterval(() => {
    const now = performance.now()
    shared.arriving.forEach(x => x.expire(now))
  }, SWEEP_MS)
  sweep.unref()
  return {
    close: async () => {
      shared.closing = true
      await new Promise<void>(resolve => server.close(resolve))
      // Connected but silent: nothing to answer; the rest finish (or are answered shutting-down).
      shared.arriving.forEach(x => x.dropIfSilent())
      if (shared.open > 0) await new Promise<void>(resolve => { shared.drained = resolve })
      clearInterval(sweep)
      await unlink(path).catch(() => undefined)
    }
  }
}

/**
 * Connections whose request has not fully arrived, each knowing its place: added and taken out
 * without garbage (a Set whose size goes 0, 1, 0 at one request at a time made itself a new table
 * each time).
 */
class Arrivals {
  readonly #items: Exchange[] = []

  add (x: Exchange): void {
    x.slot = this.#items.length
    this.#items.push(x)
  }

  delete (x: Exchange): void {
    const i = x.slot
    if (i < 0) return
    const last = this.#items.pop()!
    if (last !== x) {
      this.#items[i] = last
      last.slot = i
    }
    x.slot = -1
  }

  has (x: Exchange): boolean {
    return x.slot >= 0
  }

  /** Calls `f` on each; `f` may take out the one it is given. */
  forEach (f: (x: Exchange) => void): void {
    // Backwards: the one moved into a taken-out place has been called already.
    for (let i = this.#items.length - 1; i >= 0; i--) {
      const x = this.#items[i]
      if (x !== undefined) f(x)
    }
  }
}

/** Every connection's reads, one function: the handle's `owner` is its exchange. */
function onPipeRead (this: PipeHandle, buf: ArrayBuffer | undefined): void {
  const x = this.owner as Exchange | undefined
  const r = readResult(buf)
  if (x === undefined || r === null) return
  if (r === 'end') x.ended()
  else if (typeof r === 'number') x.drop()
  else x.data(r)
}

/** An answer the kernel took only in part (a large report) is closed once the rest is written. */
function onAnswerWritten (this: { handle: PipeHandle | null }): void {
  (this.handle?.owner as Exchange | undefined)?.close()
}

function ignoreWrite (): void {}

function ignoreRead (): void {}

/**
 * One connection: its request read as it arrives, then answered once, then closed.
 *
 * The whole request is read straight from the chunk that holds it (the usual case), and the answer
 * is one write() and a close: what a request leaves behind is this object and the handle, and once
 * closed the handle no longer holds this (`owner` cleared).
 */
class Exchange {
  readonly #handle: PipeHandle
  readonly #s: Shared
  readonly #since = performance.now()
  #head: RequestHead | null = null
  #route: Route | undefined = undefined
  /** A head or body that arrived in more than one chunk, so far; null while nothing is pending. */
  #parts: Buffer[] | null = null
  #size = 0
  #chunked: ChunkedBody | null = null
  #answered = false
  #closed = false
  /** Its place in the arrivals; -1 once its request is whole (or it is gone). */
  slot = -1

  constructor (handle: PipeHandle, shared: Shared) {
    this.#handle = handle
    this.#s = shared
  }

  start (): void {
    this.#s.open++
    this.#s.arriving.add(this)
    this.#handle.owner = this
    const err = readPipe(this.#handle, onPipeRead)
    if (err !== 0) this.drop()
  }

  /** The peer shut down its sending side: before the request was whole, there is nothing to answer. */
  ended (): void {
    if (this.#s.arriving.has(this)) this.drop()
  }

  /** Drops the connection if its head or body is past its bound. */
  expire (now: number): void {
    const bound = this.#head === null ? HEADERS_TIMEOUT_MS : REQUEST_TIMEOUT_MS
    if (now - this.#since > bound) this.drop()
  }

  dropIfSilent (): void {
    if (this.#head === null && this.#size === 0) this.drop()
  }

  data (chunk: Buffer): void {
    if (!this.#s.arriving.has(this)) return
    try {
      const body = this.#head === null ? this.#readHead(chunk) : this.#readBody(chunk)
      if (body !== null) this.#dispatch(body)
    } catch (err) {
      // The rest of the request is not read: the connection closes after the answer.
      if (err instanceof ApiError) this.#fail(err)
      else this.#internal(err, 'socket request failed')
    }
  }

  /** Buffers until the blank line, then takes the head and starts on the body; the body once whole. */
  #readHead (chunk: Buffer): Buffer | null {
    const from = Math.max(0, this.#size - 3)
    const buf = this.#parts === null ? chunk : Buffer.concat([...this.#parts, chunk], this.#size + chunk.length)
    const end = buf.indexOf('\r\n\r\n', from)
    if (end < 0) {
      if (buf.length > MAX_HEAD_BYTES) throw new ApiError(400, 'bad-request', `request head: larger than ${MAX_HEAD_BYTES} bytes`)
      this.#parts = [buf]
      this.#size = buf.length
      return null
    }
    if (end > MAX_HEAD_BYTES) throw new ApiError(400, 'bad-request', `request head: larger than ${MAX_HEAD_BYTES} bytes`)
    const head = parseHead(buf, end)
    this.#head = head
    this.#parts = null
    this.#size = 0
    if (this.#s.closing) throw new ApiError(503, 'shutting-down', 'the agent is shutting down', true)
    const route = this.#s.table.get(head.method)?.get(head.path)
    this.#route = route
    const maxBytes = route?.maxBytes ?? MAX_REQUEST_BYTES
    if (head.contentLength !== null && head.contentLength > maxBytes) throw tooLarge(maxBytes)
    if (head.chunked) this.#chunked = new ChunkedBody(maxBytes)
    if (head.expectContinue && (head.chunked || (head.contentLength ?? 0) > 0)) writePipe(this.#handle, 'HTTP/1.1 100 Continue\r\n\r\n', ignoreWrite)
    return this.#readBody(buf.subarray(end + 4))
  }

  #readBody (chunk: Buffer): Buffer | null {
    if (this.#chunked !== null) return this.#chunked.push(chunk)
    const length = this.#head?.contentLength ?? 0
    // The usual case: the whole body in this chunk. Bytes past it would be a second request: the
    // connection closes after this one.
    if (this.#parts === null && chunk.length >= length) return chunk.length === length ? chunk : chunk.subarray(0, length)
    if (chunk.length > 0) {
      this.#parts ??= []
      this.#parts.push(chunk)
      this.#size += chunk.length
    }
    if (this.#size < length) return null
    return Buffer.concat(this.#parts!, this.#size).subarray(0, length)
  }

  #dispatch (bytes: Buffer): void {
    this.#s.arriving.delete(this)
    this.#parts = null
    const route = this.#route
    if (route === undefined) {
      const { method, path } = this.#head!
      this.#fail(new ApiError(404, 'not-found', `no route ${method} ${path}`))
      return
    }
    let body: unknown
    if (bytes.length > 0) {
      try {
        body = JSON.parse(bytes.toString('utf8'))
      } catch (err) {
        this.#fail(new ApiError(400, 'bad-request', `body: not valid JSON (${(err as Error).message})`))
        return
      }
    }
    let answered: Promise<unknown>
    try {
      answered = route.handle(body)
    } catch (err) {
      // A handler that is not an async function may throw before it returns a promise.
      this.#failed(err)
      return
    }
    answered.then(value => { this.#answerValue(value) }, (err: unknown) => { this.#failed(err) })
  }

  /** A handler's error: the client's (400), one the API names, or a bug (500). */
  #failed (err: unknown): void {
    if (err instanceof RequestError) this.#fail(new ApiError(400, 'bad-request', err.message))
    else if (err instanceof ApiError) this.#fail(err)
    else this.#internal(err, 'request handler failed')
  }

  /** The handler's value, answered 200; one that cannot be answered (not JSON) is a bug, answered 500. */
  #answerValue (value: unknown): void {
    try {
      this.#answer(200, value)
    } catch (err) {
      this.#internal(err, 'socket request failed')
    }
  }

  /** A bug, not the client's fault: logged, and answered 500 if nothing was answered yet. */
  #internal (err: unknown, what: string): void {
    this.#s.log.error({ err, route: this.#head?.path }, what)
    this.#fail(new ApiError(500, 'internal', (err as Error).message))
  }

  #fail (err: ApiError): void {
    const body: ErrorBody = { error: { code: err.code, message: err.message, retryable: err.retryable } }
    this.#answer(err.status, body)
  }

  /**
   * Writes the whole answer at once, then closes. An answer the kernel took whole (one write() of a
   * few hundred bytes on a unix socket) is the peer's even once this end is closed; one it took in
   * part is closed once the rest is written.
   */
  #answer (status: number, value: unknown): void {
    this.#s.arriving.delete(this)
    if (this.#answered || this.#closed) return
    const text = JSON.stringify(value)
    this.#answered = true
    const head = headOf(status)
    const length = String(Buffer.byteLength(text))
    const s = this.#s
    let written
    if (head.length + length.length + HEAD_END.length + text.length * 3 > ANSWER_BYTES) written = writePipe(this.#handle, `${head}${length}${HEAD_END}${text}`, onAnswerWritten)
    else {
      const buf = s.answerBuf
      let at = buf.write(head, 0, 'latin1')
      at += buf.write(length, at, 'latin1')
      at += buf.write(HEAD_END, at, 'latin1')
      at += buf.write(text, at, 'utf8')
      written = writePipe(this.#handle, buf.subarray(0, at), onAnswerWritten)
      if (written === 'pending') s.answerBuf = Buffer.allocUnsafeSlow(ANSWER_BYTES)
    }
    if (written !== 'pending') this.close()
  }

  drop (): void {
    this.#s.arriving.delete(this)
    this.close()
  }

  /** Closes the handle once, and lets go of what the request made (the handle no longer holds this). */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#s.arriving.delete(this)
    this.#handle.owner = undefined
    // A function, never null: the binding aborts the process on anything else.
    this.#handle.onread = ignoreRead
    this.#handle.close()
    this.#head = null
    this.#route = undefined
    this.#parts = null
    this.#chunked = null
    if (--this.#s.open === 0 && this.#s.closing) this.#s.drained?.()
  }
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
