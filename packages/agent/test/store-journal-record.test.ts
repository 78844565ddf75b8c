import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { Packr } from 'msgpackr'
import { HEADER, RecordWriter } from '../src/store-journal-record.ts'

/** What the journal wrote before its records were written by hand: msgpackr's pack, zlib's CRC-32. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true })
function packed (seq: number, deleted: string[], put: string[], records: Uint8Array[]): Buffer {
  const payload = packr.pack([seq, deleted, put, records])
  const header = Buffer.alloc(HEADER)
  header.writeUInt32LE(payload.length, 0)
  header.writeUInt32LE(zlibCrc32(payload), 4)
  return Buffer.concat([header, payload])
}

describe('a journal record written by hand', () => {
  it('is byte for byte what msgpackr packed and zlib checksummed, whatever the batch', () => {
    const writer = new RecordWriter()
    const key = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'abc/-_0123456789'.split('')), maxLength: 80 }),
      fc.string({ maxLength: 40 }),
      fc.constantFrom(31, 32, 255, 256, 65_535, 65_536).map(n => 'k'.repeat(n))
    )
    const seq = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }))
    const record = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(255, 256, 65_535, 65_536).map(n => new Uint8Array(n).fill(7)))
    const puts = fc.array(fc.tuple(key, record), { maxLength: 20 })
    fc.assert(fc.property(seq, fc.array(key, { maxLength: 20 }), puts, (s, deleted, put) => {
      const keys = put.map(([k]) => k)
      const records = put.map(([, r]) => r)
      const end = writer.write(s, deleted, keys.map(k => ({ key: k })), records)
      expect(Buffer.from(writer.bytes.subarray(0, end)).equals(packed(s, deleted, keys, records))).toBe(true)
    }), { numRuns: 500 })
    // Sixteen and more entries take the longer array head.
    const many = Array.from({ length: 70_000 }, (_, i) => `k${i}`)
    const end = writer.write(1, many, [], [])
    expect(Buffer.from(writer.bytes.subarray(0, end)).equals(packed(1, many, [], []))).toBe(true)
  })
})
