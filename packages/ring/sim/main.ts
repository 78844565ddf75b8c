/**
 * The simulator's command line: `npm run sim -- --seeds N --peers P [--first S] [--events E] [--trace L] [--kube | --pools | --liveness | --reachability | --shares | --removal | --floor] [--full]`.
 * `--kube` runs the kubernetes init schedules (kube-schedule.ts) instead of the general ones; `--pools`
 * runs every schedule for two pools (pools.ts), one of them with reserved ranges; `--liveness` the
 * slow-machine schedules (liveness-schedule.ts: init and takeover must decide within a bound);
 * `--reachability` the schedules aimed at the takeover rules that use reachability
 * (reachability-schedule.ts; it also prints how many takeovers they decided); `--full`
 * runs every general schedule with exactly P peers of a running cluster (for 1,000 and 5,000 peers).
 * `--shares` runs the even-share schedules instead (shares-schedule.ts): growth from 3 to P peers one
 * by one, then with removals, each without rebalancing (weft before it) and with, and prints the
 * share figures after every step's quiet period.
 * `--removal` instead removes one peer from a settled cluster of P peers and prints what its gossip
 * costs, the floor raise included; `--floor` what the floor raise alone costs (floor-cost.ts).
 * `--replace R` instead replaces a node R times in a cluster of P peers and prints what the state
 * costs then (replacements.ts); a violation there throws.
 * Runs N schedules (seeds S..S+N-1) of E events with up to P peers each, prints progress sparsely and,
 * for each violation, the seed and the last L trace lines. Ends with one line
 * `schedules: N  violations: V`; exits 1 if V > 0. Replay one seed with `--seeds 1 --first <seed>`.
 */
import { parseArgs } from 'node:util'
import { runFloorCost, runRemovalCost } from './floor-cost.ts'
import { runKubeSchedule } from './kube-schedule.ts'
import { runLivenessSchedule } from './liveness-schedule.ts'
import { runReplacements } from './replacements.ts'
import { runPoolsSchedule } from './pools.ts'
import { type ReachabilityOptions, runReachabilitySchedule } from './reachability-schedule.ts'
import { printShares } from './shares-report.ts'
import { type ScheduleResult, runSchedule } from './schedule.ts'

function positive (name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${JSON.stringify(text)}`)
    process.exit(2)
  }
  return n
}

const { values } = parseArgs({
  options: { seeds: { type: 'string' }, peers: { type: 'string' }, first: { type: 'string' }, events: { type: 'string' }, trace: { type: 'string' }, kube: { type: 'boolean' }, pools: { type: 'boolean' }, liveness: { type: 'boolean' }, reachability: { type: 'boolean' }, shares: { type: 'boolean' }, removal: { type: 'boolean' }, floor: { type: 'boolean' }, full: { type: 'boolean' }, replace: { type: 'string' } },
  strict: true
})
const seeds = positive('seeds', values.seeds, 100)
const maxPeers = positive('peers', values.peers, 20)
const first = positive('first', values.first, 1)
const events = positive('events', values.events, 250)
const traceLines = positive('trace', values.trace, 40)

if (values.shares === true) {
  process.exitCode = printShares(first, positive('peers', values.peers, 100)) ? 0 : 1
} else if (values.replace !== undefined) {
  // One long run instead of schedules: --replace R node replacements in a cluster of --peers peers.
  const started = performance.now()
  const r = runReplacements(first, maxPeers, positive('replace', values.replace, 1))
  console.log(JSON.stringify(r))
  console.log(`wall time: ${((performance.now() - started) / 1000).toFixed(1)} s`)
} else if (values.removal === true || values.floor === true) {
  // One removal in a settled cluster of --peers peers (or its floor raise alone), and what its gossip costs.
  const started = performance.now()
  console.log(JSON.stringify((values.floor === true ? runFloorCost : runRemovalCost)(first, maxPeers)))
  console.log(`wall time: ${((performance.now() - started) / 1000).toFixed(1)} s`)
} else runAll()

/**
 * Prints each phase of schedule `seed` as it ends (a 5,000-peer phase takes many minutes): the CPU
 * seconds of this process in it (less dependent on the machine's load than wall time), and the heap
 * in use and the resident set at its end.
 */
function phaseMeter (seed: number): (name: string) => void {
  let cpu = process.cpuUsage()
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`
  return name => {
    const used = process.cpuUsage(cpu)
    cpu = process.cpuUsage()
    const m = process.memoryUsage()
    console.log(`seed ${seed} ${name}: ${((used.user + used.system) / 1e6).toFixed(1)} s CPU, heap ${mib(m.heapUsed)}, RSS ${mib(m.rss)}`)
  }
}

function runAll (): void {
  let violations = 0
  let compacted = 0
  const decided = { decisions: 0, liveDecisions: 0, contested: 0, refused: 0 }
  // The reachability schedules also tell how many takeovers they decided: the check was not vacuous.
  const reachability = (seed: number, o: ReachabilityOptions): ScheduleResult => {
    const r = runReachabilitySchedule(seed, o)
    for (const k of Object.keys(decided) as Array<keyof typeof decided>) decided[k] += r.stats[k]
    return r
  }
  const started = performance.now()
  const every = Math.max(1, Math.floor(seeds / 10))
  for (let i = 0; i < seeds; i++) {
    const run = values.reachability === true ? reachability : values.liveness === true ? runLivenessSchedule : values.kube === true ? runKubeSchedule : values.pools === true ? runPoolsSchedule : runSchedule
    const r = run(first + i, { maxPeers, events, traceLines, full: values.full === true, ...(values.full === true ? { phase: phaseMeter(first + i) } : {}) })
    if (r.compacted === true) compacted++
    if (r.violation !== null) {
      violations++
      console.log(`violation in seed ${r.seed} (${r.peers} peers): ${r.violation}`)
      for (const line of r.trace) console.log(`  ${line}`)
    }
    if (r.sizes !== undefined) console.log(`seed ${r.seed} (${r.peers} peers): ring ${r.sizes.ring} bytes, largest message ${r.sizes.largestMessage} bytes, ${((performance.now() - started) / 1000).toFixed(1)} s so far`)
    if ((i + 1) % every === 0 && i + 1 < seeds) {
      console.log(`... ${i + 1}/${seeds} schedules, ${violations} violations, ${((performance.now() - started) / 1000).toFixed(1)} s`)
    }
  }
  console.log(`wall time: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  if (values.reachability === true) console.log(`takeovers decided: ${decided.decisions} (of a peer still up: ${decided.liveDecisions}; while a voter reached it: ${decided.contested}); rmpeer refused peer-alive: ${decided.refused}`)
  console.log(`schedules that compacted a removal (a floor raised): ${compacted}`)
  console.log(`schedules: ${seeds}  violations: ${violations}`)
  process.exitCode = violations > 0 ? 1 : 0
}
