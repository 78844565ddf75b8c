/**
 * A V8 CPU profile's samples inside one window, summed by where they ran: self time by source (a
 * package under node_modules, a file of ours, Node's own code, V8's GC), and by the first frame of
 * ours or of a package below the event loop's entry (what woke the agent: a timer of the core, of
 * gossipsub, a socket read of yamux...). Positions in the bundle are mapped to sources through its
 * source map, when it has one.
 */
import { readFile } from 'node:fs/promises'
import { SourceMap } from 'node:module'
import { fileURLToPath } from 'node:url'

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: readonly number[]
}
interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

/** A source path as a short name: `@libp2p/gossipsub`, `agent/mesh-links.ts`, `node:internal/timers`. */
function shortSource (path: string): string {
  const nm = path.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const pk = /packages\/([^/]+)\/src\/(.+)$/.exec(path)
  return pk === null ? path : `${pk[1]}/${pk[2]}`
}

export async function profileBySource (file: string, fromUs: number, toUs: number): Promise<string[]> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile
  const maps = new Map<string, SourceMap | null>()
  const mapFor = async (url: string): Promise<SourceMap | null> => {
    if (!maps.has(url)) {
      const path = url.startsWith('file:') ? fileURLToPath(url) : url
      maps.set(url, await readFile(`${path}.map`, 'utf8').then(t => new SourceMap(JSON.parse(t)), () => null))
    }
    return maps.get(url)!
  }
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const source = new Map<number, string>()
  for (const n of profile.nodes) {
    const f = n.callFrame
    let s: string
    if (f.url === '') s = f.functionName.startsWith('(') ? f.functionName : `(native) ${f.functionName}`
    else if (f.url.startsWith('node:')) s = 'node'
    else {
      const map = await mapFor(f.url)
      const entry = map?.findEntry(f.lineNumber, f.columnNumber)
      s = entry !== undefined && 'originalSource' in entry ? shortSource(entry.originalSource) : shortSource(f.url)
    }
    source.set(n.id, s)
  }
  /** The first frame from the root that is neither Node's nor native: what this stack is for. */
  const entryOf = (id: number): string => {
    const chain: number[] = []
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) chain.push(at)
    for (let i = chain.length - 1; i >= 0; i--) {
      const s = source.get(chain[i]!)!
      if (s !== 'node' && !s.startsWith('(')) {
        const f = byId.get(chain[i]!)!.callFrame
        return `${s} ${f.functionName === '' ? '(anonymous)' : f.functionName}`
      }
    }
    return source.get(id)!
  }
  const self = new Map<string, number>()
  const entry = new Map<string, number>()
  let t = profile.startTime
  let total = 0
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!
    if (t < fromUs || t > toUs) continue
    const id = profile.samples[i]!
    const s = source.get(id)!
    // Idle time is the event loop waiting: not CPU.
    if (s === '(idle)') continue
    const dt = profile.timeDeltas[i + 1] ?? 0
    total += dt
    self.set(s, (self.get(s) ?? 0) + dt)
    const e = entryOf(id)
    entry.set(e, (entry.get(e) ?? 0) + dt)
  }
  const top = (m: Map<string, number>, k: number): string[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, k)
    .map(([name, us]) => `${(us / 1000).toFixed(1).padStart(7)} ms ${(100 * us / Math.max(1, total)).toFixed(1).padStart(5)} %  ${name}`)
  const seconds = (toUs - fromUs) / 1e6
  return [
    `${(total / 1000).toFixed(1)} ms of samples in ${seconds.toFixed(1)} s (${(total / 10 / 1e6 / seconds * 1000).toFixed(2)} % of a core)`,
    'self time by source:',
    ...top(self, 14),
    'by what ran it (first frame below the event loop):',
    ...top(entry, 18)
  ]
}
