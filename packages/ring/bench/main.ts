/**
 * The ring benchmark: merge of two 1000-peer rings, encoded size of one, every peer's holding (what
 * status and the donor choice read), allocate+release throughput
 * on a /12, and the heap a space with 100k allocations costs. Prints one table. Run with
 * `node --expose-gc` for the memory row (scripts/bench.sh does).
 */
import { parseUniverse } from '../src/address.ts'
import { encodeRingState } from '../src/codec.ts'
import { Ring } from '../src/ring.ts'
import { Space } from '../src/space.ts'
import { type PeerId, type RingState, asPeerId } from '../src/types.ts'

const gc = (globalThis as { gc?: () => void }).gc
const universe = parseUniverse('10.32.0.0/12')
const peers = Array.from({ length: 1000 }, (_, i) => asPeerId(`12D3KooW${String(i).padStart(44, 'x')}`))

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

/** A 1000-peer ring as it looks after some life: every peer a member, every peer has reported free space. */
function lived (): Ring {
  const r = Ring.empty(universe)
  r.claimForPeers(peers)
  for (const p of peers) {
    r.setMember(p, `node-${p.slice(-6)}`)
    r.reportFree(p, x => (x.end - x.start) / 2n)
  }
  return r
}

function mergeRow (): [string, string] {
  const base = lived()
  // The other ring: half the peers moved on (new free counts) and 100 gave space to a neighbour.
  const other = Ring.fromState(universe, base.toState())
  peers.forEach((p, i) => { if (i % 2 === 0) other.reportFree(p, x => (x.end - x.start) / 3n) })
  for (let i = 0; i < 100; i++) {
    const [r] = other.rangesOf(peers[i * 10]!)
    if (r !== undefined) other.give({ start: r.end - 16n, end: r.end }, peers[i * 10]!, peers[i * 10 + 1] as PeerId)
  }
  const incoming: RingState = other.toState()
  const ms = median(21, () => {
    const mine = Ring.fromState(universe, base.toState())
    mine.merge(incoming, peers[500]!, () => false, peers[1]!)
  })
  return ['merge two 1000-peer rings (1100 entries, incl. copy)', `${ms.toFixed(2)} ms`]
}

function sizeRow (): [string, string] {
  const bytes = encodeRingState(lived().toState()).length
  return ['encoded 1000-peer ring', `${(bytes / 1024).toFixed(1)} KiB`]
}

/** What `weft status` and the choice of a donor cost: every owner's holding, in one pass or peer by peer. */
function holdingsRow (): [string, string] {
  const r = lived()
  const onePass = median(21, () => { r.holdings() })
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

const rows = [mergeRow(), sizeRow(), holdingsRow(), throughputRow(), memoryRow()]
const w = Math.max(...rows.map(r => r[0].length))
console.log('ring benchmark')
for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`)
