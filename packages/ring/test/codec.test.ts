import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import {
  CODEC_VERSION, OLDEST_SPOKEN, decodeAcceptorRecord, decodeAllocation, decodeBareAllocation, decodeMessage, decodeRingState, encodeAcceptorRecord, encodeAllocation,
  encodeMessage, encodeRingState, asPeerId, parseUniverse, Ring, statesEqual
} from '../src/internal.ts'
import type { Message, RingState } from '../src/internal.ts'
import { partOf, replicaStates } from './ring-arbitrary.ts'

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
      const delta = { seeds: 4_000_000_000, part: partOf(ring) }
      const digest = { hash: big & ((1n << 64n) - 1n), weight: big }
      const msgs: Message[] = [
        { type: 'ring', ring, hints: [] },
        { type: 'ring', ring, hints: ring.members.map(m => ({ peer: m.peer, free: big })) },
        { type: 'space-request' },
        { type: 'space-request', address: big },
        { type: 'space-grant', delta, range: { start: 5n, end: big + 6n } },
        { type: 'space-deny', digest, reason: 'no free space' },
        { type: 'delta', delta },
        { type: 'delta', delta: { ...delta, raisedFrom: digest } },
        { type: 'digest', digest, reply: true },
        { type: 'pull' },
        { type: 'hint', free: big },
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
    expect(decodeAllocation(encodeAllocation(a))).toEqual(a)
    const rec = { key: 'init', promised: { n: 2, proposer: asPeerId('p') }, accepted: null }
    expect(decodeAcceptorRecord(encodeAcceptorRecord(rec))).toEqual(rec)
  })

  it('writes an allocation record byte for byte as msgpackr packs it, whatever the key, offset and payload', () => {
    const general = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })
    const minimal = (v: bigint): Uint8Array => {
      const hex = v === 0n ? '' : v.toString(16)
      return Uint8Array.from(Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex'))
    }
    const key = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.constantFrom(31, 32, 255, 256, 1024, 65_535, 65_536).map(n => 'k'.repeat(n))
    )
    const offset = fc.oneof(fc.bigInt({ min: 0n, max: 1n << 32n }), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.constantFrom(0n, 255n, 256n, (1n << 53n) - 1n, 1n << 53n))
    const payload = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(255, 256, 65_535, 65_536).map(n => new Uint8Array(n).fill(7)))
    fc.assert(fc.property(key, offset, payload, (k, o, p) => {
      const bytes = encodeAllocation({ key: k, offset: o, payload: p })
      // Framed as version 5, as every record version 5 can read (a rollback reads it).
      expect(Buffer.from(bytes).equals(general.pack([5, k, minimal(o), p]))).toBe(true)
      if (k.length > 1024) return // longer keys than the decoder takes: written alike, refused on read
      const back = decodeAllocation(bytes)
      expect({ ...back, payload: Buffer.from(back.payload) }).toEqual({ key: k, offset: o, payload: Buffer.from(p) })
    }), { numRuns: 300 })
    // Two records in a row: the second does not carry anything of the first.
    const first = encodeAllocation({ key: 'a'.repeat(40), offset: 1n << 40n, payload: new Uint8Array(100).fill(9) })
    const second = encodeAllocation({ key: 'b', offset: 2n, payload: Uint8Array.of() })
    expect(decodeAllocation(second)).toEqual({ key: 'b', offset: 2n, payload: Uint8Array.of() })
    expect(decodeAllocation(first).key).toBe('a'.repeat(40))
  })

  // A corrupted version byte may read as a newer codec: that, too, is refused, only without blame.
  const REFUSALS = ['DecodeError', 'NewerCodecError', 'OlderCodecError']

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
      const all: Message[] = [
        { type: 'ring', ring, hints: ring.members.map(m => ({ peer: m.peer, free: 7n })) },
        { type: 'delta', delta: { seeds: 9, part: partOf(ring) } },
        { type: 'digest', digest: { hash: 99n, weight: 3n }, reply: false },
        { type: 'hint', free: 1n }
      ]
      const bytes = encodeMessage(all[pos % all.length]!)
      bytes[pos % bytes.length] = byte
      try {
        decodeMessage(bytes)
      } catch (e) {
        expect(REFUSALS).toContain((e as Error).name)
      }
    }), { numRuns: 500 })
    expect(() => decodeMessage(encodeMessage({ type: 'space-deny', digest: { hash: 1n, weight: 1n }, reason: 'r' }).slice(0, 5)))
      .toThrow(expect.objectContaining({ name: 'DecodeError' }))
    expect(() => decodeMessage(encodeMessage({ type: 'init-hello', node: { name: '', created: 1 }, initialiser: null, reply: false })))
      .toThrow('message.node.name: empty node name')
    expect(() => decodeMessage(encodeMessage({ type: 'init-hello', node: { name: 'n', created: -1 }, initialiser: null, reply: false })))
      .toThrow('message.node.created: expected a non-negative integer')
  })

  it('carries a member\'s node address, decodes records without one, and refuses one that is not an address', () => {
    const p = asPeerId('12D3KooWpeer')
    const ring = (members: unknown[]): Uint8Array => encodeRingState({ universe: '10.0.0.0/8' as never, seeds: [], entries: [], members: members as never, removed: [], floor: 0, level: 0 })
    const withAddress = { peer: p, nickname: 'n1', version: 2, address: '2001:db8::7', acks: [], since: 0, born: 0 }
    expect(decodeRingState(ring([withAddress])).members).toEqual([withAddress])
    const old = { peer: p, nickname: 'n1', version: 1, acks: [], since: 0, born: 0 }
    expect(decodeRingState(ring([old])).members).toEqual([old])
    for (const bad of ['not-an-ip', '2001:DB8::7', '10.0.0.01', '']) {
      expect(() => decodeRingState(ring([{ ...old, address: bad }]))).toThrow(/members\[0\]\.address: .* not an IP address in canonical form/)
    }
    expect(() => decodeRingState(ring([{ ...old, address: 7 }]))).toThrow(/members\[0\]\.address: expected a string/)
  })

  it('reads the rings builds of versions 1 to 3 persisted, upgraded to (token, version) versions; ignores their messages as older', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })
    const [a, b] = [asPeerId('12D3KooWa'), asPeerId('12D3KooWb')]
    // The version-2 layout: a peer table, entries [token, owner, version, free], members [peer, nickname, version, acks, address?].
    const wire = ['10.0.0.0/24', [a, b], [0, 1], [Uint8Array.of(0), 0, 2, Uint8Array.of(100), Uint8Array.of(128), 1, 1, Uint8Array.of(28)], [[0, 'na', 1, []], [1, 'nb', 3, [], '192.0.2.2']], []]
    const ring = {
      universe: '10.0.0.0/24',
      seeds: [a, b],
      // The old pair (token, version) in one number: the token's bits above 16 bits of version, in write steps of 16.
      entries: [{ token: 0n, owner: a, version: 2 * 16 }, { token: 128n, owner: b, version: (128 * 2 ** 16 + 1) * 16 }],
      members: [{ peer: a, nickname: 'na', version: 1, acks: [], since: 0, born: 0 }, { peer: b, nickname: 'nb', version: 3, acks: [], since: 0, born: 0, address: '192.0.2.2' }],
      removed: [],
      floor: 0,
      level: 0
    }
    for (const version of [1, 2]) expect(decodeRingState(packr.pack([version, wire]))).toEqual(ring)
    // Version 3 wrote this version's layout; its split token (version 1 under a token of version 5) still comes after.
    const v3 = ['10.0.0.0/24', [a, b], [0, 1], [0, 0, 5, 128, 1, 1], [['na', 1, []], ['nb', 3, [], '192.0.2.2']], [], []]
    const upgraded = decodeRingState(packr.pack([3, v3]))
    expect(upgraded.entries).toEqual([{ token: 0n, owner: a, version: 5 * 16 }, { token: 128n, owner: b, version: (128 * 2 ** 16 + 1) * 16 }])
    for (const type of [0, 1, 7]) {
      expect(() => decodeMessage(packr.pack([2, type, wire]))).toThrow(expect.objectContaining({ name: 'OlderCodecError', version: 2 }))
      expect(() => decodeMessage(packr.pack([3, type, v3]))).toThrow(expect.objectContaining({ name: 'OlderCodecError', version: 3 }))
    }
  })

  it('reads a ring version 4 persisted with records stamped 0 and completions stamped 1; ignores its messages as older', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })
    const [a, b, c] = [asPeerId('pa'), asPeerId('pb'), asPeerId('pc')]
    // Version 4: members [nickname, version, acks, address?], removals [peer, heir, true?], no floor or level.
    const v4 = ['10.0.0.0/24', [a, b, c], [0, 1], [0, 0, 32, 128, 1, 48], [['na', 2, []], ['nb', 3, [], '192.0.2.2']], [[2, 0, true]], []]
    expect(decodeRingState(packr.pack([4, v4]))).toEqual({
      universe: '10.0.0.0/24',
      seeds: [a, b],
      entries: [{ token: 0n, owner: a, version: 32 }, { token: 128n, owner: b, version: 48 }],
      members: [{ peer: a, nickname: 'na', version: 2, acks: [], since: 0, born: 0 }, { peer: b, nickname: 'nb', version: 3, acks: [], since: 0, born: 0, address: '192.0.2.2' }],
      removed: [{ peer: c, heir: a, done: 1 }],
      floor: 0,
      level: 1
    })
    expect(() => decodeRingState(packr.pack([4, [...v4.slice(0, 5), [[2, 0, 7]], []]]))).toThrow('ring.removed[0].done: expected true')
    for (const type of [0, 6]) expect(() => decodeMessage(packr.pack([4, type, v4]))).toThrow(expect.objectContaining({ name: 'OlderCodecError', version: 4 }))
  })

  it('upgrades stale and fresh old rings so that they join as the old per-token merge would', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })
    const [a, b] = [asPeerId('pa'), asPeerId('pb')]
    const u = '10.0.0.0/24'
    // Stale: a owns everything at version 5. Fresh: a split at 100 (version 1) and gave [100, 256) to b (version 2).
    const stale = decodeRingState(packr.pack([3, [u, [a, b], [0], [0, 0, 5], [], [], []]]))
    const fresh = decodeRingState(packr.pack([3, [u, [a, b], [0], [0, 0, 5, 100, 1, 2], [], [], []]]))
    const r = Ring.fromState(parseUniverse(u), stale)
    r.merge(fresh, a, () => false, b)
    expect(r.rangesOf(b)).toEqual([{ start: 100n, end: 256n }])
  })

  it('sends a libp2p peer id as the bytes its text spells, and any other id as text', () => {
    const id = asPeerId('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
    const state = (p: typeof id): RingState => ({ universe: '10.0.0.0/24' as never, seeds: [], entries: [], members: [{ peer: p, nickname: '', version: 1, acks: [], since: 0, born: 0 }], removed: [], floor: 0, level: 0 })
    for (const p of [id, asPeerId('p001'), asPeerId('1'), asPeerId('11z')]) expect(decodeRingState(encodeRingState(state(p))).members[0]!.peer).toBe(p)
    // 38 bytes instead of 52 characters ('0' is not base58, so that id goes as text).
    expect(encodeRingState(state(asPeerId('0'.repeat(52)))).length - encodeRingState(state(id)).length).toBe(52 - 38)
    const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })
    const bytes = (peer: unknown): Uint8Array => packr.pack([CODEC_VERSION, ['10.0.0.0/24', [peer], [], [], [['', 1, [], 0, 0]], [], [], 0, 0]])
    expect(() => decodeRingState(bytes(new Uint8Array(65)))).toThrow('ring.peers[0]: peer id of 65 bytes')
    expect(() => decodeRingState(bytes(new Uint8Array(0)))).toThrow('ring.peers[0]: peer id of 0 bytes')
    expect(() => decodeRingState(bytes(''))).toThrow('ring.peers[0]: empty peer id')
    expect(() => decodeRingState(packr.pack([CODEC_VERSION, ['10.0.0.0/24', [], [], [], [['', 1, [], 0, 0]], [], [], 0, 0]]))).toThrow('ring.members: 1 members but 0 peers in the table')
    expect(() => decodeMessage(packr.pack([CODEC_VERSION, 7, [Uint8Array.of(1), Uint8Array.of(1)], 'yes']))).toThrow('message.reply: expected a boolean')
    expect(() => decodeMessage(packr.pack([CODEC_VERSION, 7, [new Uint8Array(9).fill(1), Uint8Array.of(1)], true]))).toThrow('message.digest.hash: wider than 64 bits')
    expect(() => decodeMessage(packr.pack([CODEC_VERSION, 6, [2 ** 33, ['x', [], [], [], [], [], []]]]))).toThrow('message.delta.seeds: fingerprint wider than 32 bits')
    expect(() => decodeMessage(packr.pack([CODEC_VERSION, 0, ['x', [], [], [], [], [], [0], 0, 0]]))).toThrow('message.ring.hints: length is not a multiple of 2')
    expect(() => decodeMessage(packr.pack([CODEC_VERSION, 8, 1]))).toThrow('message: expected 1 items, got 2')
  })

  it('frames only a floor-raising delta as version 6; everything else keeps version 5, which version-5 builds read', () => {
    const [a, b] = [asPeerId('pa'), asPeerId('pb')]
    const r = Ring.empty(parseUniverse('10.0.0.0/24'))
    r.claimForPeers([a, b])
    const state = r.toState()
    const plain = { seeds: 7, part: partOf(state) }
    const raised = { ...plain, raisedFrom: { hash: 5n, weight: 1n << 300n } }
    // The version follows the array header.
    const version = (bytes: Uint8Array): number => bytes[1]!
    expect(CODEC_VERSION).toBe(6)
    expect(OLDEST_SPOKEN).toBe(5)
    for (const m of [{ type: 'delta', delta: plain }, { type: 'space-grant', delta: plain, range: { start: 0n, end: 1n } }, { type: 'ring', ring: state, hints: [] }, { type: 'pull' }] as const) {
      expect(version(encodeMessage(m))).toBe(5)
    }
    expect(version(encodeRingState(state))).toBe(5)
    expect(version(encodeAllocation({ key: 'k', offset: 1n, payload: Uint8Array.of() }))).toBe(5)
    for (const m of [{ type: 'delta', delta: raised }, { type: 'space-grant', delta: raised, range: { start: 0n, end: 1n } }] as const) {
      const bytes = encodeMessage(m)
      expect(version(bytes)).toBe(6)
      expect(decodeMessage(bytes)).toEqual(m)
    }
    // Version 5 had no third item in a delta: framed as 5, it is malformed.
    const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true })
    const wire = packr.unpack(encodeMessage({ type: 'delta', delta: raised })) as unknown[]
    expect(() => decodeMessage(packr.pack([5, ...wire.slice(1)]))).toThrow('message.delta: expected 2 items, got 3')
    expect(() => decodeMessage(packr.pack([6, wire[1], [...(wire[2] as unknown[]), 1]]))).toThrow('message.delta: expected 2 or 3 items, got 4')
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
