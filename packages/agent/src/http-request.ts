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

const REQUEST_LINE = /^([A-Z]{1,16}) (\S{1,8000}) HTTP\/1\.[01]$/

/**
 * Parses the head (up to, not including, the blank line); a malformed one is a 400 naming what was wrong.
 * Header names are matched in place and only the three values read are cut out: this runs on every
 * request, and splitting, trimming and lower-casing each line was about 0.5 KB of garbage a request.
 */
export function parseHead (head: string): RequestHead {
  const first = lineEnd(head, 0)
  const line = REQUEST_LINE.exec(head.slice(0, first))
  if (line === null) throw bad(`request line: not "METHOD /path HTTP/1.1": ${JSON.stringify(head.slice(0, Math.min(first, 80)))}`)
  let contentLength: number | null = null
  let chunked = false
  let expectContinue = false
  for (let at = first + 2, i = 1; at <= head.length && first < head.length; i++) {
    const end = lineEnd(head, at)
    const colon = head.indexOf(':', at)
    if (colon <= at || colon > end || isBlank(head, at, colon)) throw bad(`header ${i}: no "name: value": ${JSON.stringify(head.slice(at, Math.min(end, at + 80)))}`)
    if (nameIs(head, at, colon, 'content-length')) {
      const value = head.slice(colon + 1, end).trim()
      if (!/^\d{1,15}$/.test(value)) throw bad(`Content-Length: not a byte count: ${JSON.stringify(value.slice(0, 40))}`)
      const n = Number(value)
      if (contentLength !== null && contentLength !== n) throw bad('Content-Length: given twice with different values')
      contentLength = n
    } else if (nameIs(head, at, colon, 'transfer-encoding')) {
      const value = head.slice(colon + 1, end).trim()
      if (value.toLowerCase() !== 'chunked') throw bad(`Transfer-Encoding: only chunked is understood, not ${JSON.stringify(value.slice(0, 40))}`)
      chunked = true
    } else if (nameIs(head, at, colon, 'expect')) {
      expectContinue = head.slice(colon + 1, end).trim().toLowerCase() === '100-continue'
    }
    at = end + 2
  }
  // Both would let two readers of the same bytes disagree on where the body ends (RFC 9112, 6.1).
  if (chunked && contentLength !== null) throw bad('Content-Length and Transfer-Encoding: chunked together')
  const target = line[2]!
  const query = target.indexOf('?')
  return { method: line[1]!, path: query < 0 ? target : target.slice(0, query), contentLength, chunked, expectContinue }
}

/** Where the line starting at `at` ends: its CRLF, or the end of the head. */
function lineEnd (head: string, at: number): number {
  const end = head.indexOf('\r\n', at)
  return end < 0 ? head.length : end
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09

function isBlank (s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpace(s.charCodeAt(i))) return false
  return true
}

/** Whether s[from, to), without surrounding blanks, is `lower` in any case. */
function nameIs (s: string, from: number, to: number, lower: string): boolean {
  while (from < to && isSpace(s.charCodeAt(from))) from++
  while (to > from && isSpace(s.charCodeAt(to - 1))) to--
  if (to - from !== lower.length) return false
  for (let i = 0; i < lower.length; i++) {
    const c = s.charCodeAt(from + i)
    if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== lower.charCodeAt(i)) return false
  }
  return true
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
