/**
 * The msgpack writers of the records written by hand on every allocation's path (the ring's
 * allocation record, the agent's journal record): each writes at `p` byte for byte what msgpackr
 * packs and returns the position after. Pure: no I/O.
 */

/** `v` (a safe integer) as `len` big-endian bytes. */
export function writeBigEndian (b: Uint8Array, p: number, v: number, len: number): number {
  for (let k = len - 1; k >= 0; k--) { b[p + k] = v % 256; v = Math.floor(v / 256) }
  return p + len
}

/** A non-negative safe integer: the smallest unsigned form up to 2^32, else a float 64. */
export function writeUint (b: Uint8Array, p: number, v: number): number {
  if (v < 0x80) { b[p] = v; return p + 1 }
  if (v < 0x100) { b[p] = 0xcc; return writeBigEndian(b, p + 1, v, 1) }
  if (v < 0x10000) { b[p] = 0xcd; return writeBigEndian(b, p + 1, v, 2) }
  if (v < 0x100000000) { b[p] = 0xce; return writeBigEndian(b, p + 1, v, 4) }
  b[p] = 0xcb
  new DataView(b.buffer, b.byteOffset, b.byteLength).setFloat64(p + 1, v)
  return p + 9
}

/** The head of an array of `n`. */
export function writeArrayHead (b: Uint8Array, p: number, n: number): number {
  if (n < 0x10) { b[p] = 0x90 | n; return p + 1 }
  if (n < 0x10000) { b[p] = 0xdc; return writeBigEndian(b, p + 1, n, 2) }
  b[p] = 0xdd
  return writeBigEndian(b, p + 1, n, 4)
}

/** An ASCII string as a str; -1 if `s` is not all ASCII (msgpackr's own pack then writes it). */
export function writeAscii (b: Uint8Array, p: number, s: string): number {
  const n = s.length
  if (n < 0x20) b[p++] = 0xa0 | n
  else if (n < 0x100) { b[p++] = 0xd9; b[p++] = n } else if (n < 0x10000) { b[p++] = 0xda; p = writeBigEndian(b, p, n, 2) } else { b[p++] = 0xdb; p = writeBigEndian(b, p, n, 4) }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) return -1
    b[p++] = c
  }
  return p
}

/** Bytes as a bin. */
export function writeBin (b: Uint8Array, p: number, v: Uint8Array): number {
  const n = v.length
  if (n < 0x100) { b[p++] = 0xc4; b[p++] = n } else if (n < 0x10000) { b[p++] = 0xc5; p = writeBigEndian(b, p, n, 2) } else { b[p++] = 0xc6; p = writeBigEndian(b, p, n, 4) }
  b.set(v, p)
  return p + n
}
