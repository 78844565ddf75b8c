/**
 * One HTTP/1.1 exchange over a unix socket, written by hand: the `weft` command pays its start-up on
 * every run, and node:http costs several milliseconds of that to load and set up; a request line and a
 * few headers over node:net do not.
 */
import { connect } from 'node:net'
import { ProtocolError } from './errors.ts'

export interface HttpAnswer {
  readonly status: number
  readonly body: string
}

/** Sends one request with `Connection: close` and reads the answer to the end of the stream. */
export async function exchange (socketPath: string, method: 'GET' | 'POST', path: string, payload: string | undefined, timeoutMs: number, onTimeout: () => Error): Promise<HttpAnswer> {
  return await new Promise<HttpAnswer>((resolve, reject) => {
    const socket = connect(socketPath)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(onTimeout()) }, timeoutMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
    socket.on('end', () => {
      clearTimeout(timer)
      try {
        resolve(parseAnswer(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), path))
      } catch (err) {
        // Closed before the answer was whole: the agent went away mid-request (killed, restarting).
        // Named like an errno so the caller files it with refused and reset connections: worth
        // trying again. Anything else that does not parse is not the agent's API.
        reject(err instanceof TruncatedAnswer ? Object.assign(new Error(`${path}: connection closed without a whole answer`), { code: 'EOF' }) : err)
      }
    })
    const head = `${method} ${path} HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n`
    const request = payload === undefined ? `${head}\r\n` : `${head}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`
    // Written once connected, not queued while connecting (a queued write makes two once-listeners
    // and their closures). Not end(): an agent of an older release (on node:http) drops a
    // half-closed request before it answers.
    socket.on('connect', () => { socket.write(request) })
  })
}

class TruncatedAnswer extends ProtocolError {}

/**
 * Status line, headers, then a body sized by Content-Length, chunked, or running to the end. The two
 * headers read are found in the head lower-cased once, not by splitting it into lines.
 */
export function parseAnswer (raw: Buffer, path: string): HttpAnswer {
  const split = raw.indexOf('\r\n\r\n')
  if (split < 0) throw new TruncatedAnswer(`agent answered ${path} with an incomplete HTTP head`)
  const head = raw.toString('latin1', 0, split)
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]
  if (status === undefined) throw new ProtocolError(`agent answered ${path} with a bad status line: ${head.slice(0, Math.min(80, lineEnd(head, 0)))}`)
  const lower = head.toLowerCase()
  let body = raw.subarray(split + 4)
  if (header(head, lower, 'transfer-encoding')?.toLowerCase() === 'chunked') body = dechunk(body, path)
  else {
    const value = header(head, lower, 'content-length')
    if (value !== undefined) {
      const length = Number(value)
      if (!Number.isSafeInteger(length)) throw new ProtocolError(`agent answered ${path} with a bad Content-Length`)
      if (length > body.length) throw new TruncatedAnswer(`agent answered ${path} with a body shorter than its Content-Length`)
      body = body.subarray(0, length)
    }
  }
  return { status: Number(status), body: body.toString('utf8') }
}

/** The value of header `name` (lower case) in `head` (`lower` is it lower-cased), trimmed; undefined if none. */
function header (head: string, lower: string, name: string): string | undefined {
  const at = lower.indexOf(`\r\n${name}:`)
  if (at < 0) return undefined
  const from = at + name.length + 3
  return head.slice(from, lineEnd(head, from)).trim()
}

function lineEnd (head: string, at: number): number {
  const end = head.indexOf('\r\n', at)
  return end < 0 ? head.length : end
}

function dechunk (data: Buffer, path: string): Buffer {
  const out: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = data.indexOf('\r\n', at)
    const size = eol < 0 ? NaN : parseInt(data.subarray(at, eol).toString('latin1'), 16)
    if (!Number.isSafeInteger(size) || eol + 2 + size > data.length) throw new ProtocolError(`agent answered ${path} with a malformed chunked body`)
    if (size === 0) return Buffer.concat(out)
    out.push(data.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}
