/**
 * Reading the rings builds of codec versions 1 and 2 persisted: entries carry a free count and
 * member records name their peer. A data dir of those versions opens (the ring is then upgraded as
 * version 3's is, ring-upgrade.ts).
 */
import { arr, big, fail, int, nodeAddress, peers, str } from './codec-read.ts'
import type { Cidr, Entry, Hint, Member, PeerId, Removal, RingState } from './types.ts'

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
      const member: Member = { peer: ref(id, `${p}.peer`), nickname: str(nickname, `${p}.nickname`), version: int(version, `${p}.version`), acks: refs(acks, `${p}.acks`), since: 0, born: 0 }
      return items.length === 4 ? member : { ...member, address: nodeAddress(address, `${p}.address`) }
    }),
    removed: arr(removed, `${path}.removed`).map((r, i): Removal => {
      const p = `${path}.removed[${i}]`
      const [dead, heir] = arr(r, p, 2)
      return { peer: ref(dead, `${p}.peer`), heir: ref(heir, `${p}.heir`) }
    }),
    // No completions then: removals were never compacted.
    floor: 0,
    level: 0
  }
  return { ring, hints: [...free].map(([peer, n]) => ({ peer, free: n })) }
}
