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
        resolve(parseAnswer(Buffer.concat(chunks), path))
      } catch (err) {
        // Closed before the answer was whole: the agent went away mid-request (killed, restarting).
        // Named like an errno so the caller files it with refused and reset connections: worth
        // trying again. Anything else that does not parse is not the agent's API.
        reject(err instanceof TruncatedAnswer ? Object.assign(new Error(`${path}: connection closed without a whole answer`), { code: 'EOF' }) : err)
      }
    })
    const head = [`${method} ${path} HTTP/1.1`, 'Host: weft', 'Connection: close']
    if (payload !== undefined) head.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(payload)}`)
    // Not end(): an agent of an older release (on node:http) drops a half-closed request before it answers.
    socket.write(`${head.join('\r\n')}\r\n\r\n${payload ?? ''}`)
  })
}

class TruncatedAnswer extends ProtocolError {}

/** Status line, headers, then a body sized by Content-Length, chunked, or running to the end. */
export function parseAnswer (raw: Buffer, path: string): HttpAnswer {
  const split = raw.indexOf('\r\n\r\n')
  if (split < 0) throw new TruncatedAnswer(`agent answered ${path} with an incomplete HTTP head`)
  const lines = raw.subarray(0, split).toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]
  if (status === undefined) throw new ProtocolError(`agent answered ${path} with a bad status line: ${(lines[0] ?? '').slice(0, 80)}`)
  const headers = new Map<string, string>()
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':')
    if (colon > 0) headers.set(l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim())
  }
  let body = raw.subarray(split + 4)
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') body = dechunk(body, path)
  else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'))
    if (!Number.isSafeInteger(length)) throw new ProtocolError(`agent answered ${path} with a bad Content-Length`)
    if (length > body.length) throw new TruncatedAnswer(`agent answered ${path} with a body shorter than its Content-Length`)
    body = body.subarray(0, length)
  }
  return { status: Number(status), body: body.toString('utf8') }
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
