/**
 * A stand-in for the Kubernetes API server, which cannot run here: GET /api/v1/nodes only, paged two
 * nodes at a time (so every listing pages), answering 401 without the expected bearer token. Each
 * node has a creationTimestamp (whole seconds, as the API gives it) and its addresses. `failing`
 * makes it drop every connection unanswered, as an API server out of reach would.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export const PAGE_SIZE = 2

export interface FakeNode {
  readonly name: string
  /** RFC 3339, whole seconds. */
  readonly creationTimestamp: string
  readonly addresses: ReadonlyArray<{ readonly type: string, readonly address: string }>
}

export interface FakeKube {
  readonly url: string
  /** The nodes it lists, by name; change it to add or delete nodes. */
  readonly nodes: Map<string, FakeNode>
  /** Adds a node created a second after the last one added (or at `created`), with an InternalIP if given. */
  add: (name: string, ip?: string, created?: Date) => FakeNode
  /** Drop every request unanswered while true. */
  failing: boolean
  /** Listings answered in full (their last page served). */
  readonly listings: () => number
  close: () => Promise<void>
}

/** `prefix`: a path the API is served under, as behind a path-routing proxy. */
export async function startFakeKube (token: string, nodes: Iterable<string>, prefix = ''): Promise<FakeKube> {
  const listed = new Map<string, FakeNode>()
  let clock = Date.parse('2026-01-01T00:00:00Z')
  let listings = 0
  const add = (name: string, ip?: string, created?: Date): FakeNode => {
    clock = created?.getTime() ?? clock + 1000
    const node: FakeNode = {
      name,
      creationTimestamp: new Date(clock).toISOString().replace(/\.\d+Z$/, 'Z'),
      addresses: [...(ip === undefined ? [] : [{ type: 'InternalIP', address: ip }]), { type: 'Hostname', address: name }]
    }
    listed.set(name, node)
    return node
  }
  for (const name of nodes) add(name)
  const server: Server = createServer((req, res) => {
    if (kube.failing) { req.socket.destroy(); return }
    const url = new URL(req.url ?? '/', 'http://fake')
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.headers.authorization !== `Bearer ${token}`) { answer(401, { kind: 'Status', message: 'Unauthorized' }); return }
    if (req.method !== 'GET' || url.pathname !== `${prefix}/api/v1/nodes`) { answer(404, { kind: 'Status', message: 'not found' }); return }
    const from = Number(url.searchParams.get('continue') ?? '0')
    const all = [...listed.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    const page = all.slice(from, from + PAGE_SIZE)
    const more = from + PAGE_SIZE < all.length
    if (!more) listings++
    answer(200, {
      kind: 'NodeList',
      items: page.map(n => ({ metadata: { name: n.name, creationTimestamp: n.creationTimestamp }, status: { addresses: n.addresses } })),
      metadata: more ? { continue: String(from + PAGE_SIZE) } : {}
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const kube: FakeKube = {
    url: `http://127.0.0.1:${port}`,
    nodes: listed,
    add,
    failing: false,
    listings: () => listings,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
  return kube
}
