/**
 * `podman run` to first ping: from starting `podman run -d` to the first answered ping from the node
 * to the new container, on the manifest's conflist with weft (against a real agent) and on the same
 * conflist with Debian's host-local as its IPAM, alternating, the same machine. As root, opt-in:
 * `node e2e/bench/podman-run.ts` (WEFT_BENCH_N runs per side, default 10).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { buildPlugin, Cluster, inNetns, run } from '@weft/testkit'
import { IMAGE, manifestConflist, Podman, podmanSkipReason } from '../src/podman.ts'

const N = Number(process.env.WEFT_BENCH_N ?? 10)
const PING_TRIES = 200

/** Milliseconds from `podman run -d` to the first ping the container answers. */
async function runToPing (pm: Podman, name: string): Promise<number> {
  const started = performance.now()
  await pm.must(['run', '-d', '--name', name, '--network', pm.network, IMAGE])
  const address = await pm.address(name)
  for (let i = 0; i < PING_TRIES; i++) {
    if ((await run(inNetns(pm.netns, ['ping', '-c1', '-W1', '-i0.01', address]))).code === 0) return performance.now() - started
  }
  throw new Error(`${name} at ${address} never answered a ping`)
}

const fmt = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
  const mean = s.reduce((a, b) => a + b, 0) / s.length
  return `${String(s.length).padStart(4)}  ${at(0.5).toFixed(0).padStart(6)}  ${at(0.9).toFixed(0).padStart(6)}  ${mean.toFixed(0).padStart(7)}`
}

async function main (): Promise<void> {
  const skip = await podmanSkipReason()
  if (skip !== null) {
    console.log(`podman run to first ping: skipped (${skip})`)
    return
  }
  await buildPlugin()
  const cluster = await Cluster.create('bench-podman')
  const hlData = await mkdtemp(join(tmpdir(), 'weft-bench-hl-'))
  const made: Podman[] = []
  try {
    const agent = await cluster.start({ name: 'node', env: { IPALLOC_RANGE: '10.32.0.0/12', IPALLOC_INIT: 'consensus=1' } })
    await agent.client.prime()
    const weftPm = await Podman.create({ socketPath: agent.socketPath })
    made.push(weftPm)
    const conflist = await manifestConflist()
    const main = (conflist.plugins as Array<Record<string, unknown>>)[0] ?? {}
    main.ipam = { type: 'host-local', dataDir: hlData, ranges: [[{ subnet: '10.32.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }] }
    const hlPm = await Podman.create({ socketPath: agent.socketPath, conflist })
    made.push(hlPm)
    const samples: Record<string, number[]> = { weft: [], 'host-local': [] }
    // One unmeasured run each warms the page cache (the plugin binary, the image layers).
    for (const [pm, label] of [[weftPm, 'weft'], [hlPm, 'host-local']] as const) await runToPing(pm, `warm-${label}`)
    for (let i = 0; i < N; i++) {
      samples.weft?.push(await runToPing(weftPm, `r${i}`))
      samples['host-local']?.push(await runToPing(hlPm, `r${i}`))
    }
    console.log('\npodman run -d to first ping (podman 4.3, CNI backend, runc), the manifest\'s conflist')
    console.log('ipam         runs  p50 ms  p90 ms  mean ms')
    for (const [label, xs] of Object.entries(samples)) console.log(`${label.padEnd(11)}  ${fmt(xs)}`)
  } finally {
    for (const pm of made) await pm.teardown()
    await cluster.teardown()
    await rm(hlData, { recursive: true, force: true })
  }
}

await main()
