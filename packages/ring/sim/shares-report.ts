/**
 * `npm run sim -- --shares`: the even-share figures. Growth from 3 to P peers one by one, then
 * growth with removals (a third of the steps remove a peer), each run twice: without rebalancing
 * (the planted `noRebalance`: weft before even shares) and with it. One row per step, printed as it
 * comes; then whether the runs with rebalancing held every check.
 */
import { type ShareStep, ENTRY_BOUND, SHARE_TOLERANCE, runSharesSchedule } from './shares-schedule.ts'

const HEADER = 'step  event         peers  max/mean  min/mean  entries max  mean  runs max  cidrs max  quiet ticks'

function row (s: ShareStep): string {
  return [
    String(s.step).padStart(4), s.event.padEnd(13), String(s.peers).padStart(5), s.maxRatio.toFixed(3).padStart(9), s.minRatio.toFixed(3).padStart(9),
    String(s.entriesMax).padStart(12), s.entriesMean.toFixed(1).padStart(5), String(s.runsMax).padStart(9), String(s.cidrsMax).padStart(10), String(s.quietTicks).padStart(12)
  ].join(' ')
}

/** Prints the figures; returns whether every run with rebalancing held every check. */
export function printShares (seed: number, peers: number): boolean {
  let ok = true
  for (const removals of [0, 1 / 3]) {
    for (const rebalance of [false, true]) {
      const started = performance.now()
      console.log(`\n${removals === 0 ? 'growth' : 'growth with removals'} 3 -> ${peers}, seed ${seed}, ${rebalance ? 'with rebalancing' : 'without rebalancing (weft before even shares)'}`)
      console.log(HEADER)
      const r = runSharesSchedule(seed, {
        to: peers,
        removals,
        measureOnly: !rebalance,
        onStep: s => console.log(row(s)),
        ...(rebalance ? {} : { faults: { noRebalance: true }, maxQuiet: 40 })
      })
      const last = r.steps.at(-1)
      console.log(`${r.violation ?? `every share within ${SHARE_TOLERANCE * 100} % of the mean after every step's quiet period: ${r.steps.every(s => s.maxRatio <= 1 + SHARE_TOLERANCE && s.minRatio >= 1 - SHARE_TOLERANCE) ? 'yes' : 'no'}; entries per peer <= ${Math.max(...r.steps.map(s => s.entriesMax))} (bound ${ENTRY_BOUND}); final ${last?.peers ?? 0} peers`}  (${((performance.now() - started) / 1000).toFixed(1)} s)`)
      if (rebalance && r.violation !== null) ok = false
    }
  }
  return ok
}
