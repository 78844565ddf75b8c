/**
 * The bytes of one allocation-journal record (store-journal.ts has the format): u32 length, u32
 * CRC-32 of the payload, then the payload, msgpack [seq, deleted keys, put keys, put records].
 * Written by hand into one reused buffer, byte for byte what msgpackr packs for the payload: this
 * runs for every allocation, and the general pack (the arrays handed to it, its result, the
 * checksummed copy) was about 0.5 KB of garbage a record. A key not all ASCII takes msgpackr's own
 * path. Pure: no I/O.
 */
import { crc32 } from 'node:zlib'
import { writeArrayHead, writeAscii, writeBin, writeUint } from '@weft/ring'
import { packr } from './store-layout.ts'

export const HEADER = 8

/** Writes records into one buffer, grown as a record needs; each is written out before the next is made. */
export class RecordWriter {
  #buf = Buffer.allocUnsafeSlow(4096)

  /** What the last `write` wrote, from 0 to what it returned. */
  get bytes (): Buffer {
    return this.#buf
  }

  /** Writes the record of one batch (its put keys are `put`'s, their records `records`, in order); returns its length. */
  write (seq: number, deleted: readonly string[], put: ReadonlyArray<{ readonly key: string }>, records: readonly Uint8Array[]): number {
    let need = HEADER + 1 + 9 + 3 * 5
    for (let i = 0; i < deleted.length; i++) need += 5 + deleted[i]!.length
    for (let i = 0; i < put.length; i++) need += 5 + put[i]!.key.length + 5 + records[i]!.length
    if (this.#buf.length < need) this.#buf = Buffer.allocUnsafeSlow(Math.max(need, 2 * this.#buf.length))
    const b = this.#buf
    let p = HEADER
    b[p++] = 0x94 // an array of 4
    p = writeUint(b, p, seq)
    p = writeArrayHead(b, p, deleted.length)
    for (let i = 0; i < deleted.length; i++) if ((p = writeAscii(b, p, deleted[i]!)) < 0) return this.#general(seq, deleted, put, records)
    p = writeArrayHead(b, p, put.length)
    for (let i = 0; i < put.length; i++) if ((p = writeAscii(b, p, put[i]!.key)) < 0) return this.#general(seq, deleted, put, records)
    p = writeArrayHead(b, p, records.length)
    for (let i = 0; i < records.length; i++) p = writeBin(b, p, records[i]!)
    return this.#frame(p)
  }

  /** Keys not all ASCII: msgpackr's pack, copied into the buffer. */
  #general (seq: number, deleted: readonly string[], put: ReadonlyArray<{ readonly key: string }>, records: readonly Uint8Array[]): number {
    const packed = packr.pack([seq, deleted, put.map(a => a.key), records])
    const end = HEADER + packed.length
    if (this.#buf.length < end) this.#buf = Buffer.allocUnsafeSlow(end)
    this.#buf.set(packed, HEADER)
    return this.#frame(end)
  }

  /** The header of the record that ends at `end`. */
  #frame (end: number): number {
    this.#buf.writeUInt32LE(end - HEADER, 0)
    // zlib's, on a view of the payload: a CRC table made in JavaScript at start was compiled on V8's
    // background threads, whose memory glibc kept (2 MiB more RSS idle, measured).
    this.#buf.writeUInt32LE(crc32(this.#buf.subarray(HEADER, end)), 4)
    return end
  }
}
