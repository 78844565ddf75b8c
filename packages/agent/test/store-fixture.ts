/** The one-peer ring both store suites persist: a schema-1 store held it too. */
import { asPeerId } from '@weft/ring'
import type { Cidr, RingState } from '@weft/ring'

export const U = '10.32.0.0/12' as Cidr
export const A = asPeerId('12D3KooWGRUVh7d5ZH1q8pRmGvWTbqdazDxjW9KD5hrXVf2kPSi4')
export const ring: RingState = {
  universe: U,
  seeds: [A],
  entries: [{ token: 0n, owner: A, version: 3 }],
  members: [{ peer: A, nickname: 'node-1', version: 1, acks: [], since: 0, born: 0 }],
  removed: [],
  floor: 0,
  level: 0
}
