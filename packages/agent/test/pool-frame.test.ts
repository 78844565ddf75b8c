import { describe, expect, it } from 'vitest'
import { frameControl, framePool, unframePool } from '../src/pool-frame.ts'

describe('pool frames', () => {
  const message = Uint8Array.of(0x93, 0x02, 0x00, 0xc0)

  it('sends pool default as the codec wrote it and frames every other pool', () => {
    expect(framePool('default', message)).toBe(message)
    expect(unframePool(message)).toEqual({ pool: 'default', message })
    const framed = framePool('lan-v4', message)
    expect(framed[0]).toBe(0xc1)
    expect(unframePool(framed)).toEqual({ pool: 'lan-v4', message })
    expect(unframePool(frameControl(message))).toEqual({ pool: null, message })
  })

  it('says what is wrong with a bad frame', () => {
    expect(unframePool(Uint8Array.of(0xc1))).toContain('does not fit')
    expect(unframePool(Uint8Array.of(0xc1, 9, 0x61))).toContain('does not fit')
    expect(unframePool(Uint8Array.of(0xc1, 2, 0xff, 0xfe, 1))).toContain('not UTF-8')
    expect(unframePool(Uint8Array.of(0xc1, 1, 0x41, 1))).toContain('not a pool name')
    expect(unframePool(Uint8Array.of(0xc1, 7, ...new TextEncoder().encode('default'), 1))).toContain('never framed')
  })
})
