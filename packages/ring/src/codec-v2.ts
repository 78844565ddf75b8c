/**
 * Reading what builds of codec versions 1 and 2 wrote: rings whose entries carry a free count and
 * whose member records name their peer, and messages that carried the whole ring where deltas and
 * digests go now. A data dir of the previous version opens, and the previous version's agents are
 * still heard during a rolling update (they ignore this build's messages as newer).
 */
import { arr, big, commonFromWire, fail, int, nodeAddress, peers, str } from './codec-read.ts'
import { digestOf, seedsFingerprint } from './ring-digest.ts'
import type { Cidr, Entry, Hint, Member, Message, PeerId, Removal, RingState } from './types.ts'

export function ringFromWireV2 (x: unknown, path: string): { ring: RingState, hints: Hint[] } {
  const [universe, table, seeds, flat, members, removed] = arr(x, path, 6)
  const peersTable = peers(table, `${path}.peers`)
  const ref = (v: unknown, p: string): PeerId => peersTable[int(v, p)] ?? fail(p, 'index outside the peer table')
  const refs = (v: unknown, p: string): PeerId[] => arr(v, p).map((r, i) => ref(r, `${p}[${i}]`))
  const f = arr(flat, `${path}.entries`)
  if (f.length % 4 !== 0) fail(`${path}.entries`, 'length is not a multiple of 4')
  const entries: Entry[] = []
  // Free counts per entry become one hint per owner.
  const free = new Map<PeerId, bigint>()
  for (let i = 0; i < f.length; i += 4) {
    const p = `${path}.entries[${i / 4}]`
    const owner = ref(f[i + 1], `${p}.owner`)
    entries.push({ token: big(f[i], `${p}.token`), owner, version: int(f[i + 2], `${p}.version`) })
    free.set(owner, (free.get(owner) ?? 0n) + big(f[i + 3], `${p}.free`))
  }
  const ring: RingState = {
    universe: str(universe, `${path}.universe`) as Cidr,
    seeds: refs(seeds, `${path}.seeds`),
    entries,
    members: arr(members, `${path}.members`).map((m, i): Member => {
      const p = `${path}.members[${i}]`
      const items = arr(m, p)
      if (items.length !== 4 && items.length !== 5) fail(p, `expected 4 or 5 items, got ${items.length}`)
      const [id, nickname, version, acks, address] = items
      const member: Member = { peer: ref(id, `${p}.peer`), nickname: str(nickname, `${p}.nickname`), version: int(version, `${p}.version`), acks: refs(acks, `${p}.acks`) }
      return items.length === 4 ? member : { ...member, address: nodeAddress(address, `${p}.address`) }
    }),
    removed: arr(removed, `${path}.removed`).map((r, i): Removal => {
      const p = `${path}.removed[${i}]`
      const [dead, heir] = arr(r, p, 2)
      return { peer: ref(dead, `${p}.peer`), heir: ref(heir, `${p}.heir`) }
    })
  }
  return { ring, hints: [...free].map(([peer, n]) => ({ peer, free: n })) }
}

/** A version-1 or -2 message as this build's: its ring becomes the delta a grant carries, the digest a deny carries. */
export function messageFromWireV2 (type: string | undefined, a: unknown[]): Message {
  switch (type) {
    case 'ring': {
      arr(a, 'message', 2)
      const { ring, hints } = ringFromWireV2(a[1], 'message.ring')
      return { type, ring, hints }
    }
    case 'space-request': {
      arr(a, 'message', 3)
      ringFromWireV2(a[1], 'message.ring')
      return a[2] === null ? { type } : { type, address: big(a[2], 'message.address') }
    }
    case 'space-grant': {
      arr(a, 'message', 4)
      const { ring } = ringFromWireV2(a[1], 'message.ring')
      return { type, delta: { seeds: seedsFingerprint(ring.seeds), part: ring }, range: { start: big(a[2], 'message.range.start'), end: big(a[3], 'message.range.end') } }
    }
    case 'space-deny': {
      arr(a, 'message', 3)
      return { type, digest: digestOf(ringFromWireV2(a[1], 'message.ring').ring), reason: str(a[2], 'message.reason') }
    }
    default: return commonFromWire(type, a) ?? fail('message.type', 'unknown message type')
  }
}
