/**
 * Unix-socket connections through Node's own pipe handle (`process.binding('pipe_wrap')`, the object
 * a net.Socket wraps), without the stream machinery around it.
 *
 * Why: at one allocation per request, the young collections of the agent's heap are the tail of
 * allocate's latency, and a net.Socket is the largest thing a request leaves for them. Its Duplex
 * state, listener tables and the ticks of resume, end and destroy were about 4 KB of garbage per
 * connection, and a closed one stays reachable until a full collection (its handle is held by a weak
 * global handle, which young collections keep), so each young collection copied and promoted every
 * socket accepted since the one before: 700-800 bytes promoted per connection. A bare handle is a
 * few hundred bytes, promoted with little else (measured with a server answering one request per
 * connection: 92 bytes promoted per connection, against 700-790 over node:net).
 *
 * The binding is Node's (no native addon), documented only by Node's own lib/net.js; the shapes
 * below are what Node 24 has. `pipeBinding` checks them when the socket server starts, so a Node
 * without them stops the agent at once with a message naming what is missing.
 */
import { getSystemErrorName } from 'node:util'

/** A write request: Node calls `oncomplete` (this: the request) once an asynchronous write is done. */
interface WriteReq {
  handle: PipeHandle | null
  /** Always a function (as `onread`). */
  oncomplete: (this: WriteReq, status: number) => void
  /** The bytes of an asynchronous write of a buffer: libuv sends them from there, so they are kept with it. */
  data?: Uint8Array
}

/** One accepted connection. */
export interface PipeHandle {
  /** Called with this: the handle; the byte count (or error) is in the stream state. Always a function: the binding aborts the process on anything else. */
  onread: (this: PipeHandle, buf: ArrayBuffer | undefined) => void
  readStart: () => number
  writeUtf8String: (req: WriteReq, data: string) => number
  writeBuffer: (req: WriteReq, data: Uint8Array) => number
  close: (cb?: () => void) => void
  /** Ours: whom the shared callbacks find the connection's state through (no closure per connection). */
  owner?: unknown
}

/** The listening end. */
export interface PipeServer {
  onconnection: (err: number, client: PipeHandle | undefined) => void
  bind: (path: string) => number
  listen: (backlog: number) => number
  close: (cb?: () => void) => void
}

interface Bindings {
  readonly Pipe: new (type: number) => PipeServer
  readonly SERVER: number
  readonly WriteWrap: new () => WriteReq
  /** The pipe handle's method for writing a buffer (checked here, on its prototype). */
  readonly writeBuffer: unknown
  /** Int32 slots Node fills on each read and write. */
  readonly state: Int32Array
  readonly READ_BYTES_OR_ERROR: number
  readonly ARRAY_BUFFER_OFFSET: number
  readonly LAST_WRITE_WAS_ASYNC: number
  readonly EOF: number
}

let bindings: Bindings | null = null

/** Node's pipe and stream bindings, checked once; throws naming what this Node lacks. */
function pipeBinding (): Bindings {
  if (bindings !== null) return bindings
  const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding
  if (typeof binding !== 'function') throw new Error('this Node has no process.binding: the socket server needs its pipe handle')
  const pipe = binding('pipe_wrap')
  const stream = binding('stream_wrap')
  const uv = binding('uv')
  const constants = pipe.constants as Record<string, unknown> | undefined
  const b = {
    Pipe: pipe.Pipe,
    writeBuffer: (pipe.Pipe as { prototype?: Record<string, unknown> } | undefined)?.prototype?.writeBuffer,
    SERVER: constants?.SERVER,
    WriteWrap: stream.WriteWrap,
    state: stream.streamBaseState,
    READ_BYTES_OR_ERROR: stream.kReadBytesOrError,
    ARRAY_BUFFER_OFFSET: stream.kArrayBufferOffset,
    LAST_WRITE_WAS_ASYNC: stream.kLastWriteWasAsync,
    EOF: uv.UV_EOF
  }
  const missing = Object.entries(b).filter(([name, v]) =>
    name === 'Pipe' || name === 'WriteWrap' || name === 'writeBuffer' ? typeof v !== 'function' : name === 'state' ? !(v instanceof Int32Array) : typeof v !== 'number').map(([name]) => name)
  if (missing.length > 0) throw new Error(`this Node's pipe handle binding lacks ${missing.join(', ')}: the socket server cannot run on it`)
  bindings = b as Bindings
  return bindings
}

/**
 * A failed result of the binding as an Error: an errno (negative) with Node's code (`EADDRINUSE`,
 * ...); anything else (an accept that brought no handle reports 0) with its number only, as Node's
 * own name lookup throws for it.
 */
export function errnoError (err: number, what: string): NodeJS.ErrnoException {
  if (err >= 0) return Object.assign(new Error(`${what}: failed without an errno (${err})`), { errno: err })
  const code = getSystemErrorName(err)
  return Object.assign(new Error(`${what}: ${code}`), { code, errno: err })
}

/**
 * Listens on `path` (bound there by the caller's rules); `accept` gets each connection, or the
 * errno of a failed accept.
 */
export function listenPipe (path: string, accept: (err: number, client: PipeHandle | undefined) => void): PipeServer {
  const { Pipe, SERVER } = pipeBinding()
  const server = new Pipe(SERVER)
  let err = server.bind(path)
  if (err === 0) err = server.listen(511)
  if (err !== 0) {
    server.close()
    throw errnoError(err, `listen ${path}`)
  }
  server.onconnection = accept
  return server
}

/** What a read brought: its bytes, 'end' (the peer shut down its sending side), or an errno. */
export type ReadResult = Buffer | 'end' | number

/**
 * Starts reading `client`; `onRead` is called with this: the handle, for each read. One function
 * for every connection: it finds its connection through `owner`.
 */
export function readPipe (client: PipeHandle, onRead: (this: PipeHandle, buf: ArrayBuffer | undefined) => void): number {
  client.onread = onRead
  return client.readStart()
}

/** What `onRead` was called with, read out of the stream state. */
export function readResult (buf: ArrayBuffer | undefined): ReadResult | null {
  const { state, READ_BYTES_OR_ERROR, ARRAY_BUFFER_OFFSET, EOF } = pipeBinding()
  const n = state[READ_BYTES_OR_ERROR]!
  if (n > 0 && buf !== undefined) return Buffer.from(buf, state[ARRAY_BUFFER_OFFSET]!, n)
  if (n === 0) return null
  return n === EOF ? 'end' : n
}

/**
 * A write request that a write completed at once never handed to libuv: the next write uses it (one
 * per answer was garbage on every request's path). One still in flight is its write's alone.
 */
let spareReq: WriteReq | null = null

/**
 * Writes `data`; `done` (this: the request; its handle) runs once it is written if that took a
 * while, else it is written when this returns: 'written', 'pending' or an errno. A buffer written
 * 'pending' is libuv's until `done` runs: it must not be changed meanwhile.
 */
export function writePipe (client: PipeHandle, data: string | Uint8Array, done: (this: WriteReq, status: number) => void): 'written' | 'pending' | number {
  const { WriteWrap, state, LAST_WRITE_WAS_ASYNC } = pipeBinding()
  const req = spareReq ?? new WriteWrap()
  spareReq = null
  req.handle = client
  req.oncomplete = done
  const err = typeof data === 'string' ? client.writeUtf8String(req, data) : client.writeBuffer(req, data)
  if (err !== 0) return err
  if (state[LAST_WRITE_WAS_ASYNC] !== 0) {
    if (typeof data !== 'string') req.data = data
    return 'pending'
  }
  req.handle = null
  spareReq = req
  return 'written'
}
