/**
 * The one thing the agent asks of the Kubernetes API: the cluster's Nodes (name, creationTimestamp,
 * addresses). A consistent list (no resourceVersion, so never an old cache), paged,
 * authenticated with the pod's service account token (read for every listing: projected tokens rotate),
 * over TLS checked against the service account's CA. The token goes over https only, or to a
 * loopback address (`kubectl proxy`). Every call is bounded in time and size.
 */
import { readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { join } from 'node:path'

export interface KubeOptions {
  /** The API server, e.g. https://10.96.0.1:443; a path on it is kept as a prefix. */
  readonly api: URL
  /** Holds `token` and `ca.crt`, as a pod's service account mount does; either may be missing. */
  readonly secretsDir: string
  /** Bound on each page's request, connect to last byte. */
  readonly timeoutMs: number
  readonly signal?: AbortSignal
}

export class KubeError extends Error {
  override readonly name = 'KubeError'
}

/** Items a page may hold; clusters of any size are read in pages of this many. */
const PAGE = 500
/** Pages one listing may take: far above any real cluster, a bound against a looping `continue`. */
const MAX_PAGES = 1_000
/** A page of 500 nodes is a few MiB at most. */
const MAX_BODY_BYTES = 64 * 1024 * 1024

interface NodeItem {
  readonly metadata?: { readonly name?: unknown, readonly creationTimestamp?: unknown }
  readonly status?: { readonly addresses?: unknown }
}

interface NodeList {
  readonly items?: readonly NodeItem[]
  readonly metadata?: { readonly continue?: unknown }
}

/** One Node as the agent uses it. */
export interface KubeNode {
  readonly name: string
  /** creationTimestamp, ms since the epoch. */
  readonly created: number
  readonly addresses: ReadonlyArray<{ readonly type: string, readonly address: string }>
}

/**
 * The address other agents reach a node's agent at: its InternalIP, else its ExternalIP; IPv4 first,
 * IPv6 when that is all the node has. Null for a node with neither.
 */
export function nodeAddress (node: KubeNode): string | null {
  for (const family of [4, 6]) {
    for (const type of ['InternalIP', 'ExternalIP']) {
      const found = node.addresses.find(a => a.type === type && isIP(a.address) === family)
      if (found !== undefined) return found.address
    }
  }
  return null
}

function parseNode (item: NodeItem): KubeNode {
  const name = item.metadata?.name
  if (typeof name !== 'string' || name === '') throw new KubeError('GET /api/v1/nodes: a node without a name')
  const stamp = item.metadata?.creationTimestamp
  const created = typeof stamp === 'string' ? Date.parse(stamp) : NaN
  if (!Number.isSafeInteger(created) || created < 0) throw new KubeError(`GET /api/v1/nodes: node ${name} has no valid creationTimestamp (${JSON.stringify(stamp)})`)
  const raw = item.status?.addresses ?? []
  if (!Array.isArray(raw)) throw new KubeError(`GET /api/v1/nodes: node ${name}: status.addresses is not a list`)
  const addresses = raw.flatMap((a: unknown) => {
    const x = a as { type?: unknown, address?: unknown } | null
    return typeof x?.type === 'string' && typeof x.address === 'string' ? [{ type: x.type, address: x.address }] : []
  })
  return { name, created, addresses }
}

/** Every Node, all pages of the list, in the API's order. */
export async function listNodes (options: KubeOptions): Promise<KubeNode[]> {
  const tokenFile = join(options.secretsDir, 'token')
  const [token, ca] = await Promise.all([optionalFile(tokenFile), optionalFile(join(options.secretsDir, 'ca.crt'))])
  const secrets: Secrets = { token, tokenFile, ca }
  const nodes = new Map<string, KubeNode>()
  let next = ''
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = `nodes?limit=${PAGE}${next === '' ? '' : `&continue=${encodeURIComponent(next)}`}`
    const list = await get(options, secrets, query) as NodeList
    if (!Array.isArray(list.items)) throw new KubeError(`GET /api/v1/nodes: the answer has no items list`)
    for (const item of list.items) {
      const node = parseNode(item)
      nodes.set(node.name, node)
    }
    const more = list.metadata?.continue
    if (typeof more !== 'string' || more === '') return [...nodes.values()]
    next = more
  }
  throw new KubeError(`GET /api/v1/nodes: still paging after ${MAX_PAGES} pages`)
}

/** The service account's files, read once per listing (a projected token rotates between listings). */
interface Secrets {
  readonly token: string | null
  readonly tokenFile: string
  readonly ca: string | null
}

async function get (options: KubeOptions, { token, tokenFile, ca }: Secrets, query: string): Promise<unknown> {
  const secure = options.api.protocol === 'https:'
  const url = new URL(`${options.api.pathname.replace(/\/*$/, '')}/api/v1/${query}`, options.api)
  const what = `GET ${url.pathname}`
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (token !== null && (secure || isLoopback(options.api.hostname))) headers.Authorization = `Bearer ${token.trim()}`
  const timeout = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
  const send = secure ? httpsRequest : httpRequest
  return await new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', headers, signal, ...(ca === null ? {} : { ca }) }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_BODY_BYTES) req.destroy(new KubeError(`${what}: the answer is larger than ${MAX_BODY_BYTES} bytes`))
        else chunks.push(c)
      })
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        if (res.statusCode !== 200) {
          reject(new KubeError(`${what}: HTTP ${res.statusCode ?? '?'}${hint(res.statusCode, token === null ? tokenFile : null)}: ${body.slice(0, 200)}`))
          return
        }
        try {
          resolve(JSON.parse(body))
        } catch {
          reject(new KubeError(`${what}: the answer is not JSON`))
        }
      })
    })
    req.on('error', (err) => {
      if (err instanceof KubeError) reject(err)
      else if (timeout.aborted) reject(new KubeError(`${what}: no answer within ${options.timeoutMs} ms`))
      else reject(new KubeError(`${what}: ${err.message}`))
    })
    req.end()
  })
}

function hint (status: number | undefined, missingToken: string | null): string {
  if (status === 401) return missingToken === null ? ' (the service account token was refused)' : ` (no token: ${missingToken} does not exist)`
  if (status === 403) return ' (the service account may not list nodes: see the ClusterRole in deploy/kubernetes/weft.yaml)'
  return ''
}

export function isLoopback (host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '')
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'))
}

/** A file's text, or null when it does not exist. */
async function optionalFile (path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new KubeError(`cannot read ${path}: ${(err as Error).message}`)
  }
}
