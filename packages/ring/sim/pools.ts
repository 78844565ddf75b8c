/**
 * Schedules with two pools, as an agent serving two networks runs them: two rings over the same
 * peers, each under the same seed's schedule (the same peers starting, crashing, partitioned and
 * removed), one pool's range with reserved ranges (a LAN's router and a DHCP range) that no peer may
 * ever hand out, whatever the schedule. Pools share no state but the mesh, so each ring is held to
 * every check of a schedule, and the reserved addresses to never being acknowledged to anyone.
 */
import { parseUniverse } from '../src/address.ts'
import type { Universe } from '../src/address.ts'
import { runSchedule } from './schedule.ts'
import type { ScheduleOptions, ScheduleResult } from './schedule.ts'

/** The two pools of every schedule: an IPv6 default and a LAN pool of a /24 with its router and a DHCP range reserved. */
export const POOLS: ReadonlyArray<{ readonly name: string, readonly universe: Universe }> = [
  { name: 'default-v6', universe: parseUniverse('fd00:10:32::/120') },
  { name: 'lan', universe: { ...parseUniverse('192.168.1.0/24'), reserved: [{ start: 1n, end: 2n }, { start: 200n, end: 255n }] } }
]

/** Both pools' schedules for `seed`; the first violation found, named by its pool. */
export function runPoolsSchedule (seed: number, opts: Omit<ScheduleOptions, 'universe'>): ScheduleResult {
  let last: ScheduleResult | null = null
  for (const pool of POOLS) {
    const r = runSchedule(seed, { ...opts, universe: pool.universe })
    if (r.violation !== null) return { ...r, violation: `pool ${pool.name}: ${r.violation}` }
    last = r
  }
  return last!
}
