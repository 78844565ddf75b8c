/**
 * The bytes of one allocation-journal record (store-journal.ts has the format): u32 length, u32
 * CRC-32 of the payload, then the payload, msgpack [seq, deleted keys, put keys, put records].
 * Written by hand into one reused buffer, byte for byte what msgpackr packs for the payload: this
 * runs for every allocation, and the general pack (the arrays handed to it, its result, the
 * checksummed copy) was about 0.5 KB of garbage a record. A key not all ASCII takes msgpackr's own
 * path. Pure: no I/O.
 */
import { crc32 } from 'node:zlib'
import { RESERVE_START_SPACE } from 'msgpackr'
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
    p = uint(b, p, seq)
    p = arrayHead(b, p, deleted.length)
    for (let i = 0; i < deleted.length; i++) if ((p = ascii(b, p, deleted[i]!)) < 0) return this.#general(seq, deleted, put, records)
    p = arrayHead(b, p, put.length)
    for (let i = 0; i < put.length; i++) if ((p = ascii(b, p, put[i]!.key)) < 0) return this.#general(seq, deleted, put, records)
    p = arrayHead(b, p, records.length)
    for (let i = 0; i < records.length; i++) p = bin(b, p, records[i]!)
    return this.#frame(p)
  }

  /** Keys not all ASCII: msgpackr's pack, copied into the buffer. */
  #general (seq: number, deleted: readonly string[], put: ReadonlyArray<{ readonly key: string }>, records: readonly Uint8Array[]): number {
    const packed = packr.pack([seq, deleted, put.map(a => a.key), records], RESERVE_START_SPACE | HEADER)
    if (this.#buf.length < packed.length) this.#buf = Buffer.allocUnsafeSlow(packed.length)
    this.#buf.set(packed.subarray(HEADER), HEADER)
    return this.#frame(packed.length)
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

/** A non-negative integer as msgpackr packs one: the smallest unsigned form up to 2^32, else a float 64. */
function uint (b: Buffer, p: number, v: number): number {
  if (v < 0x80) b[p++] = v
  else if (v < 0x100) { b[p++] = 0xcc; b[p++] = v } else if (v < 0x10000) { b[p++] = 0xcd; p = b.writeUInt16BE(v, p) } else if (v < 0x100000000) { b[p++] = 0xce; p = b.writeUInt32BE(v, p) } else { b[p++] = 0xcb; p = b.writeDoubleBE(v, p) }
  return p
}

function arrayHead (b: Buffer, p: number, n: number): number {
  if (n < 0x10) b[p++] = 0x90 | n
  else if (n < 0x10000) { b[p++] = 0xdc; p = b.writeUInt16BE(n, p) } else { b[p++] = 0xdd; p = b.writeUInt32BE(n, p) }
  return p
}

/** An ASCII string as msgpack's str; -1 if `s` is not all ASCII. */
function ascii (b: Buffer, p: number, s: string): number {
  const n = s.length
  if (n < 0x20) b[p++] = 0xa0 | n
  else if (n < 0x100) { b[p++] = 0xd9; b[p++] = n } else if (n < 0x10000) { b[p++] = 0xda; p = b.writeUInt16BE(n, p) } else { b[p++] = 0xdb; p = b.writeUInt32BE(n, p) }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) return -1
    b[p++] = c
  }
  return p
}

function bin (b: Buffer, p: number, v: Uint8Array): number {
  const n = v.length
  if (n < 0x100) { b[p++] = 0xc4; b[p++] = n } else if (n < 0x10000) { b[p++] = 0xc5; p = b.writeUInt16BE(n, p) } else { b[p++] = 0xc6; p = b.writeUInt32BE(n, p) }
  b.set(v, p)
  return p + n
}
