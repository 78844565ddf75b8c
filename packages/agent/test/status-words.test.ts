/** One status vocabulary end to end: the socket API's list is the core's, word for word and in order. */
import { describe, expect, it } from 'vitest'
import { IPAM_STATUSES } from '@weft/protocol'
import { STATUS_CODES } from '@weft/ring'

describe('status words', () => {
  it('are the same list in the core and in the socket API', () => {
    expect([...IPAM_STATUSES]).toEqual([...STATUS_CODES])
  })
})
