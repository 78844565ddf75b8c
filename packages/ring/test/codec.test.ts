import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  CODEC_VERSION, decodeAcceptorRecord, decodeAllocation, decodeBareAllocation, decodeMessage, decodeRingState, encodeAcceptorRecord, encodeAllocation,
  encodeMessage, encodeRingState, asPeerId, statesEqual
} from '../src/internal.ts'
import type { Message } from '../src/internal.ts'
import { replicaStates } from './ring-arbitrary.ts'

describe('codec', () => {
  it('round-trips rings', () => {
    fc.assert(fc.property(replicaStates, ([a]) => {
      expect(statesEqual(decodeRingState(encodeRingState(a)), a)).toBe(true)
    }), { numRuns: 100 })
  })

  it('round-trips every message type', () => {
    fc.assert(fc.property(replicaStates, fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), ([ring], big) => {
      const p = asPeerId('12D3KooWpeer')
      const ballot = { n: 7, proposer: p }
      const msgs: Message[] = [
        { type: 'ring', ring },
        { type: 'space-request', ring },
        { type: 'space-request', ring, address: big },
        { type: 'space-grant', ring, range: { start: 5n, end: big + 6n } },
        { type: 'space-deny', ring, reason: 'no free space' },
        { type: 'paxos', key: 'init', msg: { kind: 'prepare', ballot, electorate: 3 } },
        { type: 'paxos', key: 'init', msg: { kind: 'promise', ballot, accepted: { ballot, value: [p] } } },
        { type: 'paxos', key: 'init', msg: { kind: 'promise', ballot, accepted: null } },
        { type: 'paxos', key: 'takeover:x', msg: { kind: 'accept', ballot, value: [p] } },
        { type: 'paxos', key: 'init', msg: { kind: 'accepted', ballot } },
        { type: 'paxos', key: 'init', msg: { kind: 'nack', ballot, promised: null, reason: 'peer-alive' } },
        { type: 'init-hello', node: { name: 'node-1', created: 1_767_225_600_000 }, initialiser: { name: 'node-0', created: 1_767_225_599_000 }, reply: false },
        { type: 'init-hello', node: { name: 'node-1', created: 0 }, initialiser: null, reply: true }
      ]
      for (const m of msgs) expect(decodeMessage(encodeMessage(m))).toEqual(m)
    }), { numRuns: 30 })
  })

  it('round-trips persisted records', () => {
    const a = { key: 'c1/eth0', offset: 12345n, payload: Uint8Array.of(0x93, 1, 2, 3) }
    expect(decodeAllocation(encodeAllocation(a))).toEqual({ ...a, payload: Buffer.from(a.payload) })
    const rec = { key: 'init', promised: { n: 2, proposer: asPeerId('p') }, accepted: null }
    expect(decodeAcceptorRecord(encodeAcceptorRecord(rec))).toEqual(rec)
  })

  // A corrupted version byte may read as a newer codec: that, too, is refused, only without blame.
  const REFUSALS = ['DecodeError', 'NewerCodecError']

  it('answers random bytes with a DecodeError and nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), bytes => {
      try {
        decodeMessage(bytes)
      } catch (e) {
        expect(REFUSALS).toContain((e as Error).name)
      }
    }), { numRuns: 2000 })
  })

  it('answers corrupted encodings with a DecodeError naming where', () => {
    fc.assert(fc.property(replicaStates, fc.nat(), fc.nat({ max: 255 }), ([ring], pos, byte) => {
      const bytes = encodeMessage({ type: 'ring', ring })
      bytes[pos % bytes.length] = byte
      try {
        decodeMessage(bytes)
      } catch (e) {
        expect(REFUSALS).toContain((e as Error).name)
      }
    }), { numRuns: 500 })
    expect(() => decodeMessage(encodeMessage({ type: 'space-deny', ring: { universe: 'x' as never, seeds: [], entries: [], members: [], removed: [] }, reason: 'r' }).slice(0, 5)))
      .toThrow(expect.objectContaining({ name: 'DecodeError' }))
    expect(() => decodeMessage(encodeMessage({ type: 'init-hello', node: { name: '', created: 1 }, initialiser: null, reply: false })))
      .toThrow('message.node.name: empty node name')
    expect(() => decodeMessage(encodeMessage({ type: 'init-hello', node: { name: 'n', created: -1 }, initialiser: null, reply: false })))
      .toThrow('message.node.created: expected a non-negative integer')
  })

  it('carries a member\'s node address, decodes records without one, and refuses one that is not an address', () => {
    const p = asPeerId('12D3KooWpeer')
    const ring = (members: unknown[]): Uint8Array => encodeRingState({ universe: '10.0.0.0/8' as never, seeds: [], entries: [], members: members as never, removed: [] })
    const withAddress = { peer: p, nickname: 'n1', version: 2, address: '2001:db8::7', acks: [] }
    expect(decodeRingState(ring([withAddress])).members).toEqual([withAddress])
    const old = { peer: p, nickname: 'n1', version: 1, acks: [] }
    expect(decodeRingState(ring([old])).members).toEqual([old])
    for (const bad of ['not-an-ip', '2001:DB8::7', '10.0.0.01', '']) {
      expect(() => decodeRingState(ring([{ ...old, address: bad }]))).toThrow(/members\[0\]\.address: .* not an IP address in canonical form/)
    }
    expect(() => decodeRingState(ring([{ ...old, address: 7 }]))).toThrow(/members\[0\]\.address: expected a string/)
    // What a version-1 build wrote (no addresses) still reads.
    const v1 = ring([old])
    v1[1] = 1
    expect(decodeRingState(v1).members).toEqual([old])
  })

  it('reads an allocation record written before records had a payload, and only with the reader for it', () => {
    // [version 1, "c1/eth0", offset 5], as the store wrote it then.
    const bare = Uint8Array.from(Buffer.from('9301a763312f65746830c40105', 'hex'))
    expect(decodeBareAllocation(bare)).toEqual({ key: 'c1/eth0', offset: 5n })
    expect(() => decodeAllocation(bare)).toThrow(expect.objectContaining({ name: 'DecodeError', message: 'allocation: expected 3 items, got 2' }))
  })

  it('tells a newer codec version (a rolling update) from a broken one', () => {
    const bytes = encodeAllocation({ key: 'k', offset: 1n, payload: Uint8Array.of() })
    bytes[1] = CODEC_VERSION + 1 // the version follows the array header
    expect(() => decodeAllocation(bytes)).toThrow(expect.objectContaining({ name: 'NewerCodecError', version: CODEC_VERSION + 1 }))
    bytes[1] = 0
    expect(() => decodeAllocation(bytes)).toThrow(expect.objectContaining({ name: 'DecodeError', message: expect.stringMatching(/unsupported codec version 0/) }))
  })
})
