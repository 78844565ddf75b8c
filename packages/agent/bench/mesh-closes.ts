/**
 * Why the mesh bench's connections closed, from the agents' logs (at `WEFT_BENCH_MESH_LOG=info`):
 * connections closed, by the end that closed them and why, gossipsub state repaired in place
 * (mesh-links.ts), dials that failed, by error, and how long connected peers took to reach gossip. Pure:
 * log lines in, lines out.
 */
import type { LogLine } from '@weft/testkit'
import { percentile } from './metrics.ts'

/** Counts of one kind, most first: `12 silent, 3 duplicate`. */
function counted (keys: readonly string[]): string {
  const by = new Map<string, number>()
  for (const k of keys) by.set(k, (by.get(k) ?? 0) + 1)
  return [...by].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`).join(', ')
}

/** An error message without the addresses and numbers that make every one differ. */
const shape = (err: unknown): string => String(err ?? 'closed').replace(/\d+(\.\d+)*(:\d+)?/g, 'N').slice(0, 60)

export function closeCauses (logs: readonly (readonly LogLine[])[]): string[] {
  const lines = logs.flat()
  const closed = lines.filter(l => l.event === 'connection-closed')
  const here = closed.filter(l => l.local === true)
  // The dial loop logs the first and every tenth failure of a target with its count: the last count is the total.
  const failures = new Map<string, { n: number, err: string }>()
  for (const [i, log] of logs.entries()) {
    for (const l of log) if (l.event === 'peer-unreachable') failures.set(`${i} ${String(l.addr)}`, { n: Number(l.failures), err: shape(l.err) })
  }
  const dialErrs = [...failures.values()].flatMap(f => Array<string>(f.n).fill(f.err))
  const waits = lines.filter(l => l.event === 'peer-gossip-joined').map(l => Number(l.waitMs) / 1000).sort((a, b) => a - b)
  const at = (q: number): string => (waits.length === 0 ? 0 : percentile(waits, q)).toFixed(1)
  const per = (event: string): number => Math.max(0, ...logs.map(log => log.filter(l => l.event === event).length))
  return [
    `connections closed: ${closed.length} ends saw a close; this end closed ${here.length}: ${counted(here.map(l => shape(l.err)))}`,
    `closes decided by weft: ${counted(lines.map(l => l.event ?? '').filter(e => e === 'peer-silent' || e === 'peer-duplicate' || e === 'peer-gossip-hang-up'))}` +
      ` (most by one agent: silent ${per('peer-silent')}, duplicate ${per('peer-duplicate')}, hang-up ${per('peer-gossip-hang-up')})`,
    `gossipsub repaired in place: ${counted(lines.map(l => l.event ?? '').filter(e => e === 'peer-gossip-identify' || e === 'peer-gossip-reset')) || 'none'}`,
    `dials failed: ${dialErrs.length}: ${counted(dialErrs)}`,
    `connected peers reaching gossip, s after the connection opened: ${waits.length} joins, median ${at(0.5)}, 90th ${at(0.9)}, max ${at(1)}`
  ]
}
