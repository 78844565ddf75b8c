/**
 * A stand-in for the Kubernetes API server, which cannot run here: GET /api/v1/nodes only, paged two
 * nodes at a time (so every listing pages), answering 401 without the expected bearer token.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export const PAGE_SIZE = 2

export interface FakeKube {
  readonly url: string
  /** The node names it lists; change it to add or delete nodes. */
  readonly nodes: Set<string>
  /** Listings answered in full (their last page served). */
  readonly listings: () => number
  close: () => Promise<void>
}

/** `prefix`: a path the API is served under, as behind a path-routing proxy. */
export async function startFakeKube (token: string, nodes: Iterable<string>, prefix = ''): Promise<FakeKube> {
  const names = new Set(nodes)
  let listings = 0
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake')
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.headers.authorization !== `Bearer ${token}`) { answer(401, { kind: 'Status', message: 'Unauthorized' }); return }
    if (req.method !== 'GET' || url.pathname !== `${prefix}/api/v1/nodes`) { answer(404, { kind: 'Status', message: 'not found' }); return }
    const from = Number(url.searchParams.get('continue') ?? '0')
    const all = [...names].sort()
    const page = all.slice(from, from + PAGE_SIZE)
    const more = from + PAGE_SIZE < all.length
    if (!more) listings++
    answer(200, {
      kind: 'NodeList',
      items: page.map(name => ({ metadata: { name } })),
      metadata: more ? { continue: String(from + PAGE_SIZE) } : {}
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    nodes: names,
    listings: () => listings,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
