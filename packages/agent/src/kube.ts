/**
 * The one thing the agent asks of the Kubernetes API: the names of the cluster's nodes. A list, paged,
 * authenticated with the pod's service account token (read on every call: projected tokens rotate),
 * over TLS checked against the service account's CA. Every call is bounded in time.
 */
import { readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'

export interface KubeOptions {
  /** The API server, e.g. https://10.96.0.1:443. */
  readonly api: URL
  /** Holds `token` and `ca.crt`, as a pod's service account mount does; either may be missing. */
  readonly secretsDir: string
  readonly timeoutMs: number
}

export class KubeError extends Error {
  override readonly name = 'KubeError'
}

/** Items a page may hold; clusters of any size are read in pages of this many. */
const PAGE = 500
/** Pages one listing may take: far above any real cluster, a bound against a looping `continue`. */
const MAX_PAGES = 1_000

interface NodeList {
  readonly items?: ReadonlyArray<{ readonly metadata?: { readonly name?: unknown } }>
  readonly metadata?: { readonly continue?: unknown }
}

/** Every node's name, all pages of the list. */
export async function listNodeNames (options: KubeOptions): Promise<Set<string>> {
  const names = new Set<string>()
  let token = ''
  for (let page = 0; page < MAX_PAGES; page++) {
    const path = `/api/v1/nodes?limit=${PAGE}${token === '' ? '' : `&continue=${encodeURIComponent(token)}`}`
    const list = await get(options, path) as NodeList
    if (!Array.isArray(list.items)) throw new KubeError(`GET ${path}: the answer has no items list`)
    for (const item of list.items) {
      const name = item.metadata?.name
      if (typeof name !== 'string' || name === '') throw new KubeError(`GET ${path}: a node without a name`)
      names.add(name)
    }
    const next = list.metadata?.continue
    if (typeof next !== 'string' || next === '') return names
    token = next
  }
  throw new KubeError(`GET /api/v1/nodes: still paging after ${MAX_PAGES} pages`)
}

async function get (options: KubeOptions, path: string): Promise<unknown> {
  const [token, ca] = await Promise.all([optionalFile(join(options.secretsDir, 'token')), optionalFile(join(options.secretsDir, 'ca.crt'))])
  const url = new URL(path, options.api)
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (token !== null) headers.Authorization = `Bearer ${token.trim()}`
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return await new Promise((resolve, reject) => {
    const req = send(url, { method: 'GET', headers, ...(ca === null ? {} : { ca }), timeout: options.timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        if (res.statusCode !== 200) {
          reject(new KubeError(`GET ${url.pathname}: HTTP ${res.statusCode ?? '?'}${hint(res.statusCode)}: ${body.slice(0, 200)}`))
          return
        }
        try {
          resolve(JSON.parse(body))
        } catch {
          reject(new KubeError(`GET ${url.pathname}: the answer is not JSON`))
        }
      })
    })
    req.on('timeout', () => req.destroy(new KubeError(`GET ${url.pathname}: no answer within ${options.timeoutMs} ms`)))
    req.on('error', (err) => reject(err instanceof KubeError ? err : new KubeError(`GET ${url.pathname}: ${err.message}`)))
    req.end()
  })
}

function hint (status: number | undefined): string {
  if (status === 401) return ' (the service account token was refused)'
  if (status === 403) return ' (the service account may not list nodes: see the ClusterRole in deploy/kubernetes/weft.yaml)'
  return ''
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
