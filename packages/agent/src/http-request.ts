/**
 * The request side of HTTP/1.1 as the socket API speaks it, pure: a request head, and a chunked body
 * decoded as it arrives. The server (server.ts) answers every request with `Connection: close`, so
 * there is no keep-alive or pipelining to track.
 */
import { ApiError } from '@weft/protocol'

/** Bound on a request's line and headers (node:http's default). */
export const MAX_HEAD_BYTES = 16 * 1024
/** Bound on one chunk-size line of a chunked body, extensions included. */
const MAX_CHUNK_LINE = 1024

/** What the server reads from a request's head. */
export interface RequestHead {
  readonly method: string
  /** The target without its query. */
  readonly path: string
  /** The declared body length; null when none was declared. */
  readonly contentLength: number | null
  readonly chunked: boolean
  /** The client waits for `100 Continue` before it sends the body. */
  readonly expectContinue: boolean
}

/**
 * Parses the head, `buf[0, end)` (up to, not including, the blank line); a malformed one is a 400
 * naming what was wrong. Read in place from the bytes: only the method and the path become strings.
 * This runs on every request: the head as a string, a regular expression's match, and lines or
 * values cut out of it were about 0.4 KB of garbage a request.
 */
export function parseHead (buf: Buffer, end: number): RequestHead {
  const first = lineEnd(buf, 0, end)
  const line = requestLine(buf, first)
  if (line === null) throw bad(`request line: not "METHOD /path HTTP/1.1": ${quoted(buf, 0, first, 80)}`)
  let contentLength: number | null = null
  let chunked = false
  let expectContinue = false
  for (let at = first + 2, i = 1; at <= end && first < end; i++) {
    const eol = lineEnd(buf, at, end)
    const colon = buf.indexOf(0x3a, at)
    if (colon <= at || colon > eol || isBlank(buf, at, colon)) throw bad(`header ${i}: no "name: value": ${quoted(buf, at, eol, 80)}`)
    if (isWord(buf, at, colon, 'content-length', isOws)) {
      const n = byteCount(buf, colon + 1, eol)
      if (n === null) throw bad(`Content-Length: not a byte count: ${quoted(buf, colon + 1, eol, 40, true)}`)
      if (contentLength !== null && contentLength !== n) throw bad('Content-Length: given twice with different values')
      contentLength = n
    } else if (isWord(buf, at, colon, 'transfer-encoding', isOws)) {
      if (!isWord(buf, colon + 1, eol, 'chunked', isTrimmed)) throw bad(`Transfer-Encoding: only chunked is understood, not ${quoted(buf, colon + 1, eol, 40, true)}`)
      chunked = true
    } else if (isWord(buf, at, colon, 'expect', isOws)) {
      expectContinue = isWord(buf, colon + 1, eol, '100-continue', isTrimmed)
    }
    at = eol + 2
  }
  // Both would let two readers of the same bytes disagree on where the body ends (RFC 9112, 6.1).
  if (chunked && contentLength !== null) throw bad('Content-Length and Transfer-Encoding: chunked together')
  return { method: buf.toString('latin1', 0, line.methodEnd), path: buf.toString('latin1', line.methodEnd + 1, line.pathEnd), contentLength, chunked, expectContinue }
}

const MAX_METHOD = 16
const MAX_TARGET = 8000
const VERSION = ' HTTP/1.'

/**
 * `METHOD target HTTP/1.x` in `buf[0, end)`: where the method ends (its space) and where the path
 * ends (the query's `?`, or the target's end); null if it is not such a line. A method is 1 to 16
 * capitals, a target 1 to 8000 non-blank bytes, the version 1.0 or 1.1.
 */
function requestLine (buf: Buffer, end: number): { methodEnd: number, pathEnd: number } | null {
  let m = 0
  while (m < end && m < MAX_METHOD && buf[m]! >= 0x41 && buf[m]! <= 0x5a) m++
  if (m === 0 || m >= end || buf[m] !== 0x20) return null
  let t = m + 1
  let query = -1
  while (t < end && !isTrimmed(buf[t]!)) {
    if (query < 0 && buf[t] === 0x3f) query = t
    t++
  }
  if (t === m + 1 || t - m - 1 > MAX_TARGET || end - t !== VERSION.length + 1) return null
  for (let i = 0; i < VERSION.length; i++) if (buf[t + i] !== VERSION.charCodeAt(i)) return null
  const minor = buf[end - 1]
  if (minor !== 0x30 && minor !== 0x31) return null
  return { methodEnd: m, pathEnd: query < 0 ? t : query }
}

/** Where the line starting at `at` ends: its CRLF, or the end of the head. */
function lineEnd (buf: Buffer, at: number, end: number): number {
  for (let i = at; i + 1 < end; i++) if (buf[i] === 0x0d && buf[i + 1] === 0x0a) return i
  return end
}

/** Blanks around a header's name: space and tab. */
const isOws = (c: number): boolean => c === 0x20 || c === 0x09

/** What String.prototype.trim takes off a value, among single bytes (latin1): tab to CR, space, no-break space. */
const isTrimmed = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0

function isBlank (buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isOws(buf[i]!)) return false
  return true
}

/** Whether buf[from, to), without surrounding `blank` bytes, is `lower` in any case (ASCII). */
function isWord (buf: Buffer, from: number, to: number, lower: string, blank: (c: number) => boolean): boolean {
  while (from < to && blank(buf[from]!)) from++
  while (to > from && blank(buf[to - 1]!)) to--
  if (to - from !== lower.length) return false
  for (let i = 0; i < lower.length; i++) {
    const c = buf[from + i]!
    if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(i)) return false
  }
  return true
}

/** A value of 1 to 15 decimal digits, blanks around it allowed; null if it is not one. */
function byteCount (buf: Buffer, from: number, to: number): number | null {
  while (from < to && isTrimmed(buf[from]!)) from++
  while (to > from && isTrimmed(buf[to - 1]!)) to--
  if (to === from || to - from > 15) return null
  let n = 0
  for (let i = from; i < to; i++) {
    const d = buf[i]! - 0x30
    if (d < 0 || d > 9) return null
    n = n * 10 + d
  }
  return n
}

/** buf[from, to) as JSON, for an error message: its first `max` characters (`trim`: once the blanks around it are off). */
function quoted (buf: Buffer, from: number, to: number, max: number, trim = false): string {
  const text = buf.toString('latin1', from, Math.max(from, to))
  return JSON.stringify((trim ? text.trim() : text).slice(0, max))
}

/**
 * A chunked body, fed as it arrives: `push` returns the whole body once its last chunk and trailer
 * are in, else null. More than `maxBytes` of data is a 413; bad framing a 400.
 */
export class ChunkedBody {
  readonly #maxBytes: number
  readonly #parts: Buffer[] = []
  #size = 0
  #pending: Buffer = Buffer.alloc(0)
  /** Bytes of the current chunk still to come; -1 while a size line is expected, -2 in the trailer. */
  #left = -1
  #crlf = false

  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  push (data: Buffer): Buffer | null {
    let buf = this.#pending.length === 0 ? data : Buffer.concat([this.#pending, data])
    for (;;) {
      if (this.#crlf) {
        if (buf.length < 2) break
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw bad('chunked body: a chunk does not end with CRLF')
        buf = buf.subarray(2)
        this.#crlf = false
      } else if (this.#left > 0) {
        if (buf.length === 0) break
        const take = Math.min(this.#left, buf.length)
        this.#parts.push(buf.subarray(0, take))
        this.#left -= take
        buf = buf.subarray(take)
        if (this.#left === 0) {
          this.#left = -1
          this.#crlf = true
        }
      } else {
        const eol = buf.indexOf('\r\n')
        if (eol < 0) {
          if (buf.length > MAX_CHUNK_LINE) throw bad('chunked body: a chunk-size or trailer line is too long')
          break
        }
        const text = buf.subarray(0, eol).toString('latin1')
        buf = buf.subarray(eol + 2)
        if (this.#left === -2) {
          // Trailer fields are ignored; the blank line ends the body.
          if (text === '') return Buffer.concat(this.#parts, this.#size)
          continue
        }
        const size = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/.exec(text)
        if (size === null) throw bad(`chunked body: bad chunk size ${JSON.stringify(text.slice(0, 40))}`)
        const n = parseInt(size[1]!, 16)
        this.#size += n
        if (this.#size > this.#maxBytes) throw tooLarge(this.#maxBytes)
        this.#left = n === 0 ? -2 : n
      }
    }
    this.#pending = buf
    return null
  }
}

export function tooLarge (maxBytes: number): ApiError {
  return new ApiError(413, 'payload-too-large', `body: larger than ${maxBytes} bytes`)
}

function bad (message: string): ApiError {
  return new ApiError(400, 'bad-request', message)
}
