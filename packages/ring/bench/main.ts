/**
 * The ring benchmark: merge of two 1000-peer rings, the encoded size of one (persisted, and as the
 * whole-ring message with every peer's hint), the messages of a free report and of a donation in it,
 * the gossip bytes one change costs a cluster of 100 and of 1000 simulated peers, every peer's
 * holding (what status and the donor choice read), allocate+release throughput on a /12, and the heap
 * a space with 100k allocations costs. Prints one table. Run with `node --expose-gc` for the memory
 * row (scripts/bench.sh does).
 */
import { parseUniverse } from '../src/address.ts'
import { base58Encode } from '../src/base58.ts'
import { encodeMessage, encodeRingState } from '../src/codec.ts'
import { deltaOf, seedsFingerprint } from '../src/ring-digest.ts'
import { Ring } from '../src/ring.ts'
import { Space } from '../src/space.ts'
import { type Hint, type Message, type PeerId, type RingState, asPeerId } from '../src/types.ts'
import { RELIABLE } from '../sim/network.ts'
import { prng } from '../sim/prng.ts'
import { World } from '../sim/world.ts'

const gc = (globalThis as { gc?: () => void }).gc
const universe = parseUniverse('10.32.0.0/12')

/** Peer ids shaped as libp2p's Ed25519 ones: an identity multihash of the key, in base58 ("12D3KooW..."). */
function peerIds (n: number): PeerId[] {
  const rnd = prng(n)
  return Array.from({ length: n }, () => asPeerId(base58Encode(Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...Array.from({ length: 32 }, () => rnd.int(256))]))))
}
const peers = peerIds(1000)

/** Median of `runs` timings of `f`, in milliseconds. */
function median (runs: number, f: () => void): number {
  const ts: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    f()
    ts.push(performance.now() - t)
  }
  ts.sort((a, b) => a - b)
  return ts[Math.floor(runs / 2)]!
}

/** A ring as it looks after some life: every peer a member with a node name. */
function lived (ids: readonly PeerId[] = peers, nickname = (p: PeerId): string => `node-${p.slice(-6)}`): Ring {
  const r = Ring.empty(universe)
  r.claimForPeers(ids)
  for (const p of ids) r.setMember(p, nickname(p))
  return r
}

/** Every peer has reported half its space free. */
const hintsOf = (r: Ring): Hint[] => [...r.holdings(new Map())].map(([peer, h]) => ({ peer, free: h.size / 2n }))

function mergeRow (): [string, string] {
  const base = lived()
  // The other ring: 100 peers gave space to a neighbour, and 100 changed their member record.
  const other = Ring.fromState(universe, base.toState())
  for (let i = 0; i < 100; i++) {
    const [r] = other.rangesOf(peers[i * 10]!)
    if (r !== undefined) other.give({ start: r.end - 16n, end: r.end }, peers[i * 10]!, peers[i * 10 + 1] as PeerId)
    other.setMember(peers[i * 10 + 5]!, `renamed-${i}`)
  }
  const incoming: RingState = other.toState()
  const ms = median(21, () => {
    const mine = Ring.fromState(universe, base.toState())
    mine.merge(incoming, peers[500]!, () => false, peers[1]!)
  })
  return ['merge two 1000-peer rings (1100 entries, incl. copy)', `${ms.toFixed(2)} ms`]
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`

function sizeRows (): Array<[string, string]> {
  const r = lived()
  const ring = encodeRingState(r.toState()).length
  const message = encodeMessage({ type: 'ring', ring: r.toState(), hints: hintsOf(r) }).length
  const hint = encodeMessage({ type: 'hint', free: 65_535n }).length
  // A donation: the grant to the asker, and the delta the donor broadcasts (the same change).
  const [donor, asker] = [peers[10]!, peers[11]!]
  const before = r.toState()
  const [range] = r.rangesOf(donor)
  r.give({ start: range!.start + (range!.end - range!.start) / 2n, end: range!.end }, donor, asker)
  const delta = { seeds: seedsFingerprint(before.seeds), part: deltaOf(before, r.toState(), r.universe.size) }
  const grant = encodeMessage({ type: 'space-grant', delta, range: range! }).length
  const request = encodeMessage({ type: 'space-request' }).length
  const broadcast = encodeMessage({ type: 'delta', delta }).length
  return [
    ['encoded 1000-peer ring (persisted)', kib(ring)],
    ['whole-ring message, 1000 peers, with every hint', kib(message)],
    ['free report (hint), 1000-peer ring', `${hint} B`],
    ['donation, 1000-peer ring: request + grant, delta broadcast', `${request} + ${grant} B, ${broadcast} B`]
  ]
}

/**
 * The gossip bytes one change costs, summed over every peer a message reaches, in a simulated
 * cluster of `n` peers that has settled: a free report (one allocation) and a donation (a claim of
 * an address another peer owns). Counted as encoded messages; the transport's framing is extra.
 */
function gossipRow (n: number): [string, string] {
  const ids = peerIds(n)
  let bytes = 0
  let messages = 0
  const meter = (msg: Message, to: number): void => { bytes += encodeMessage(msg).length * to; messages += to }
  const w = new World({ universe, rnd: prng(1), net: RELIABLE, meter })
  // Every record as each peer writes its own: nothing to change when they start.
  w.addAll(ids, { kind: 'seed', peers: ids }, lived(ids, World.nodeName).toState())
  w.settle(10, 10_000_000)
  const measure = (change: () => void): string => {
    bytes = 0
    messages = 0
    change()
    w.settle(20, 10_000_000)
    return `${kib(bytes)} in ${messages} messages`
  }
  const report = measure(() => w.allocate(ids[0]!, 'one'))
  const owned = lived(ids).rangesOf(ids[2]!)[0]!
  const donation = measure(() => w.allocate(ids[1]!, 'two', owned.start + 1n))
  return [`gossip per change, ${n} simulated peers`, `free report ${report}; donation ${donation}`]
}

/** What `weft status` and the choice of a donor cost: every owner's holding, in one pass or peer by peer. */
function holdingsRow (): [string, string] {
  const r = lived()
  const onePass = median(21, () => { r.holdings(new Map()) })
  const perPeer = median(5, () => { for (const p of r.owners()) r.sizeOf(p) })
  return ['holdings of every peer, 1000-peer ring', `${onePass.toFixed(2)} ms one pass (peer by peer: ${perPeer.toFixed(1)} ms)`]
}

function throughputRow (): [string, string] {
  const space = new Space(universe)
  space.setOwned([{ start: 0n, end: universe.size }])
  // Keep 1000 live so the free set is fragmented, as on a busy node.
  const live: bigint[] = []
  for (let i = 0; i < 1000; i++) live.push(space.allocate()!)
  const n = 200_000
  const t = performance.now()
  for (let i = 0; i < n; i++) {
    space.release(live[i % 1000]!)
    live[i % 1000] = space.allocate()!
  }
  const s = (performance.now() - t) / 1000
  return ['allocate+release on a /12', `${Math.round(n / s).toLocaleString('en')} pairs/s`]
}

function memoryRow (): [string, string] {
  if (gc === undefined) return ['heap of a space with 100k allocations', 'n/a (run with --expose-gc)']
  gc()
  const before = process.memoryUsage().heapUsed
  const space = new Space(universe)
  space.setOwned([{ start: 0n, end: universe.size }])
  // Every other address, so the allocated and free sets are both 100k runs: the worst case.
  for (let i = 0; i < 100_000; i++) space.claim(BigInt(2 * i + 1))
  gc()
  const after = process.memoryUsage().heapUsed
  if (space.allocatedCount() !== 100_000) throw new Error('benchmark setup: expected 100k allocations')
  return ['heap of a space with 100k allocations', `${((after - before) / 1024 / 1024).toFixed(1)} MiB`]
}

const rows = [mergeRow(), ...sizeRows(), gossipRow(100), gossipRow(1000), holdingsRow(), throughputRow(), memoryRow()]
const w = Math.max(...rows.map(r => r[0].length))
console.log('ring benchmark')
for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`)
