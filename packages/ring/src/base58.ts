/**
 * Base58btc, the alphabet libp2p writes peer ids in. The codec sends a peer id as the bytes it
 * spells (38 for an Ed25519 id, not 52 characters) whenever the text is exactly what those bytes
 * encode back to; any other id travels as text.
 */
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const INDEX = new Map([...ALPHABET].map((c, i) => [c, i]))

/** The bytes `text` spells in base58btc; null if it is not base58 text. */
export function base58Decode (text: string): Uint8Array | null {
  if (text.length === 0) return null
  const out: number[] = []
  for (const ch of text) {
    let carry = INDEX.get(ch)
    if (carry === undefined) return null
    for (let i = 0; i < out.length; i++) {
      carry += out[i]! * 58
      out[i] = carry & 0xff
      carry >>= 8
    }
    for (; carry > 0; carry >>= 8) out.push(carry & 0xff)
  }
  let zeros = 0
  while (zeros < text.length && text[zeros] === '1') zeros++
  return Uint8Array.from([...new Array<number>(zeros).fill(0), ...out.reverse()])
}

export function base58Encode (bytes: Uint8Array): string {
  const digits: number[] = []
  for (const b of bytes) {
    let carry = b
    for (let i = 0; i < digits.length; i++) {
      carry += digits[i]! << 8
      digits[i] = carry % 58
      carry = (carry / 58) | 0
    }
    for (; carry > 0; carry = (carry / 58) | 0) digits.push(carry % 58)
  }
  let zeros = 0
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++
  return '1'.repeat(zeros) + digits.reverse().map(d => ALPHABET[d]).join('')
}
