/** One length-prefixed message per libp2p stream, each way bounded in size and time: what both direct protocols use. */
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, Stream } from '@libp2p/interface'

/** Reads the one message of an inbound stream; throws (and aborts the stream) if it is cut off, too big or too slow. */
export async function readOne (stream: Stream, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  // Wrapped before any await, or buffered data can be lost (libp2p 3 pitfall).
  const lp = lpStream(stream, { maxDataLength: maxBytes })
  try {
    const data = await lp.read({ signal: AbortSignal.timeout(timeoutMs) })
    await stream.close().catch(() => undefined)
    return data.subarray()
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** Opens a stream of `protocol` to `to` and writes one message; the error if that failed, else null. */
export async function writeOne (node: Libp2p, to: string, protocol: string, data: Uint8Array, maxBytes: number, timeoutMs: number): Promise<Error | null> {
  try {
    const stream = await node.dialProtocol(peerIdFromString(to), protocol, { signal: AbortSignal.timeout(timeoutMs) })
    const lp = lpStream(stream, { maxDataLength: maxBytes })
    await lp.write(data, { signal: AbortSignal.timeout(timeoutMs) })
    await stream.close({ signal: AbortSignal.timeout(timeoutMs) })
    return null
  } catch (err) {
    return err as Error
  }
}
