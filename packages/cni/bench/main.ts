/**
 * ADD+DEL per exec: the weft plugin (against a real agent) beside Debian's host-local, the same
 * iterations for both, sequential and 16 at a time, single-stack and dual-stack (one IPv4 and one
 * IPv6 address per ADD: weft's agent with two CIDRs in IPALLOC_RANGE, host-local with two range
 * sets); then, as root, the full chain a pod start pays:
 * the bridge plugin in a node namespace delegating to each, with pods in namespaces of their own.
 * Prints a table of milliseconds per ADD+DEL pair. WEFT_BENCH_N sets the iterations (default 200).
 */
import { access, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { addNetns, buildPlugin, Cluster, cniEnv, delNetns, execPlugin, inNetns, inParallel, namespaceSkipReason, SYSTEM_CNI_DIR, uniqueName, WEFT_CNI } from '@weft/testkit'

const N = Number(process.env.WEFT_BENCH_N ?? 200)
const HOST_LOCAL = join(SYSTEM_CNI_DIR, 'host-local')

interface Subject {
  name: string
  /** The plugin, or a command line ending in it. */
  command: string | string[]
  conf: string
  /** CNI_PATH, for a plugin that delegates. */
  path?: string
}

interface Ipam {
  /** The row's name. */
  name: string
  /** The plugin. */
  type: 'weft' | 'host-local'
  ipam: Record<string, unknown>
}

interface Row {
  plugin: string
  mode: string
  samples: number[]
  wallMs: number
}

/** One ADD then one DEL of a fresh attachment in `netns`; returns the pair's milliseconds. */
async function pair (s: Subject, id: string, netns: string): Promise<number> {
  const call = { containerId: id, ifname: 'eth0', netns, ...(s.path === undefined ? {} : { path: s.path }) }
  const start = performance.now()
  const added = await execPlugin(s.command, cniEnv({ command: 'ADD', ...call }), s.conf)
  if (added.code !== 0) throw new Error(`${s.name} ADD ${id} failed: ${added.stdout}${added.stderr}`)
  const deleted = await execPlugin(s.command, cniEnv({ command: 'DEL', ...call }), s.conf)
  if (deleted.code !== 0) throw new Error(`${s.name} DEL ${id} failed: ${deleted.stdout}${deleted.stderr}`)
  return performance.now() - start
}

/** `pods`: namespaces for the pairs in flight (one each), or none for IPAM alone. */
async function measure (s: Subject, mode: string, concurrency: number, pods: string[] = []): Promise<Row> {
  const free = [...pods]
  const start = performance.now()
  const samples = await inParallel(N, concurrency, async (i) => {
    const pod = free.pop()
    try {
      return await pair(s, `bench-${mode}-${i}`, pod ?? `/var/run/netns/bench-${i}`)
    } finally {
      if (pod !== undefined) free.push(pod)
    }
  })
  return { plugin: s.name, mode, samples, wallMs: performance.now() - start }
}

/**
 * The bridge plugin run in a node namespace, delegating IPAM to each subject: one bridge per
 * subject, 16 pod namespaces. Everything is made here and removed by the returned cleanup.
 */
async function chainRows (ipams: readonly Ipam[]): Promise<Row[]> {
  const skip = await namespaceSkipReason()
  if (skip !== null) {
    console.log(`(full chain skipped: ${skip})`)
    return []
  }
  const node = uniqueName('node')
  const pods = Array.from({ length: 16 }, (_, i) => uniqueName(`p${i}`))
  const made: string[] = []
  const pluginDir = await mkdtemp(join(tmpdir(), 'weft-bench-bin-'))
  try {
    await symlink(WEFT_CNI, join(pluginDir, 'weft'))
    for (const ns of [node, ...pods]) {
      await addNetns(ns)
      made.push(ns)
    }
    const subjects = ipams.map(({ name, ipam }, i): Subject => ({
      name: `bridge+${name}`,
      command: inNetns(node, [join(SYSTEM_CNI_DIR, 'bridge')]),
      conf: JSON.stringify({ cniVersion: '1.0.0', name: `bench${i}`, type: 'bridge', bridge: `bench${i}`, isGateway: true, ipMasq: false, ipam }),
      path: `${SYSTEM_CNI_DIR}:${pluginDir}`
    }))
    const handles = pods.map((p) => `/var/run/netns/${p}`)
    const rows: Row[] = []
    for (const [mode, concurrency] of [['sequential', 1], ['16-way', 16]] as const) {
      for (const s of subjects) rows.push(await measure(s, mode, concurrency, handles))
    }
    return rows
  } finally {
    for (const ns of made) await delNetns(ns)
    await rm(pluginDir, { recursive: true, force: true })
  }
}

function quantile (sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}

function printTable (rows: Row[]): void {
  const header = ['plugin', 'mode', 'pairs', 'p50 ms', 'p99 ms', 'mean ms', 'pairs/s']
  const lines = rows.map((r) => {
    const sorted = [...r.samples].sort((a, b) => a - b)
    const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length
    return [r.plugin, r.mode, String(sorted.length), quantile(sorted, 0.5).toFixed(1), quantile(sorted, 0.99).toFixed(1),
      mean.toFixed(1), (sorted.length / (r.wallMs / 1000)).toFixed(0)]
  })
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] ?? '').length)))
  const fmt = (cells: string[]): string => cells.map((cell, c) => c < 2 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)).join('  ')
  console.log(`\nCNI plugin exec, ADD+DEL per pair (${N} pairs per row)`)
  console.log(fmt(header))
  for (const l of lines) console.log(fmt(l))
}

async function main (): Promise<void> {
  await buildPlugin()
  const cluster = await Cluster.create('cni-bench')
  const hostLocalDir = await mkdtemp(join(tmpdir(), 'weft-bench-host-local-'))
  try {
    const agent = await cluster.start({ name: 'bench', env: { IPALLOC_RANGE: '10.98.0.0/16', IPALLOC_INIT: 'consensus=1', WEFT_LOG_LEVEL: 'warn' } })
    const dual = await cluster.start({ name: 'bench-dual', env: { IPALLOC_RANGE: '10.96.0.0/16,fd00:96::/104', IPALLOC_INIT: 'consensus=1', WEFT_LOG_LEVEL: 'warn' } })
    await agent.client.prime()
    await dual.client.prime()
    const ipams: Ipam[] = [
      { name: 'weft', type: 'weft', ipam: { type: 'weft', socket: agent.socketPath } },
      { name: 'weft dual-stack', type: 'weft', ipam: { type: 'weft', socket: dual.socketPath } }
    ]
    if (await access(HOST_LOCAL).then(() => true, () => false)) {
      ipams.push(
        { name: 'host-local', type: 'host-local', ipam: { type: 'host-local', subnet: '10.97.0.0/16', dataDir: hostLocalDir } },
        { name: 'host-local dual-stack', type: 'host-local', ipam: { type: 'host-local', ranges: [[{ subnet: '10.95.0.0/16' }], [{ subnet: 'fd00:95::/104' }]], dataDir: hostLocalDir } }
      )
    } else {
      console.log(`(${HOST_LOCAL} not found: install containernetworking-plugins to compare)`)
    }
    const subjects = ipams.map(({ name, type, ipam }, i): Subject => ({
      name,
      command: type === 'weft' ? WEFT_CNI : HOST_LOCAL,
      // One network per subject: host-local keeps its files per network name.
      conf: JSON.stringify({ cniVersion: '1.0.0', name: `bench${i}`, type, ipam })
    }))
    const rows: Row[] = []
    for (const [mode, concurrency] of [['sequential', 1], ['16-way', 16]] as const) {
      for (const s of subjects) rows.push(await measure(s, mode, concurrency))
    }
    // Under the bridge, weft answers the node's reserved gateway (ipam.gateway defaults to true), which
    // the bridge plugin puts on the bridge, as the shipped config does.
    rows.push(...await chainRows(ipams))
    printTable(rows)
  } finally {
    await cluster.teardown()
    await rm(hostLocalDir, { recursive: true, force: true })
  }
}

await main()
