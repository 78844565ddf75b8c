import { describe, expect, it } from 'vitest'
import { decodeRetire, encodeRetire } from '../src/retire-messages.ts'
import type { RetireMessage } from '../src/retire-messages.ts'

describe('retire messages', () => {
  it('round-trip', () => {
    const messages: RetireMessage[] = [
      { t: 'holders?', pool: 'old', id: 'q1' },
      { t: 'holders', pool: 'old', id: 'q1', serves: true, draining: true, holders: [{ network: 'weft', containerId: 'c1', ifname: 'eth0', address: '10.32.0.5' }] },
      { t: 'retired', pool: 'old', id: 'r1' }
    ]
    for (const m of messages) expect(decodeRetire(encodeRetire(m))).toEqual(m)
  })

  it.each([
    ['not JSON', new TextEncoder().encode('{'), 'not JSON'],
    ['not UTF-8', Uint8Array.of(0xff, 0xfe), 'not JSON'],
    ['an array', new TextEncoder().encode('[]'), 'not an object'],
    ['a bad pool', new TextEncoder().encode('{"t":"retired","pool":"Old","id":"x"}'), 'without a pool name'],
    ['no id', new TextEncoder().encode('{"t":"retired","pool":"old"}'), 'without an id'],
    ['an unknown type', new TextEncoder().encode('{"t":"wipe","pool":"old","id":"x"}'), 'unknown type "wipe"'],
    ['a bad holder', new TextEncoder().encode('{"t":"holders","pool":"old","id":"x","serves":true,"draining":true,"holders":[{"network":"weft"}]}'), 'malformed list'],
    ['no flags', new TextEncoder().encode('{"t":"holders","pool":"old","id":"x","holders":[]}'), 'without serves or draining']
  ])('refuses %s, saying what is wrong', (_, bytes, words) => {
    expect(decodeRetire(bytes)).toContain(words)
  })
})
