/**
 * A stand-in Kubernetes API server for the cluster harness, over https with the cluster CA's serving
 * certificate. It serves Node objects as the real one does: list (paged with limit/continue), get, and
 * watch (a chunked stream of ADDED/DELETED events from a resourceVersion); it checks the bearer token
 * and authorizes every request against the manifest's own ClusterRole rules, so an agent asking for
 * more than the RBAC grants gets the 403 it would get in a cluster. It listens on one unix socket per
 * node (each node's Service proxy dials its own), so every request is known by the node it came from.
 */
import { createServer } from 'node:https'
import type { Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { Certs } from './certs.ts'
import type { PolicyRule } from './manifest.ts'

export interface NodeAddress {
  readonly type: 'InternalIP' | 'ExternalIP' | 'Hostname'
  readonly address: string
}

export interface ApiRequest {
  /** The node whose socket it came in on. */
  readonly node: string
  readonly method: string
  readonly url: string
  readonly verb: string
  readonly status: number
}

interface NodeObject {
  apiVersion: 'v1'
  kind: 'Node'
  metadata: { name: string, uid: string, resourceVersion: string, creationTimestamp: string }
  status: { addresses: NodeAddress[] }
}

interface WatchEvent { rv: number, type: 'ADDED' | 'DELETED', object: NodeObject }

export interface ApiOptions {
  readonly token: string
  readonly certs: Certs
  readonly rules: readonly PolicyRule[]
  /** Where the sockets go. */
  readonly dir: string
  /** The most items one page holds whatever the limit asked (the API may return fewer): makes small clusters page. */
  readonly pageSize?: number
}

export class StandInApi {
  readonly requests: ApiRequest[] = []
  readonly #options: ApiOptions
  readonly #nodes = new Map<string, NodeObject>()
  readonly #events: WatchEvent[] = []
  readonly #servers: Server[] = []
  readonly #watches = new Set<{ res: ServerResponse, send: (type: string, object: NodeObject) => void }>()
  #rv = 1
  #uid = 0

  constructor (options: ApiOptions) {
    this.#options = options
  }

  /** A socket serving the API for `node`'s requests. */
  async listen (node: string): Promise<string> {
    const path = join(this.#options.dir, `api-${this.#servers.length}.sock`)
    const server = createServer({ cert: this.#options.certs.cert, key: this.#options.certs.key }, (req, res) => this.#serve(node, req, res))
    this.#servers.push(server)
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, resolve) })
    return path
  }

  addNode (name: string, addresses: readonly NodeAddress[]): void {
    if (this.#nodes.has(name)) throw new Error(`node ${name} exists`)
    const object: NodeObject = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, uid: `uid-${++this.#uid}`, resourceVersion: String(++this.#rv), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      status: { addresses: [...addresses] }
    }
    this.#nodes.set(name, object)
    this.#emit({ rv: this.#rv, type: 'ADDED', object })
  }

  deleteNode (name: string): void {
    const object = this.#nodes.get(name)
    if (object === undefined) throw new Error(`no node ${name}`)
    this.#nodes.delete(name)
    this.#emit({ rv: ++this.#rv, type: 'DELETED', object: { ...object, metadata: { ...object.metadata, resourceVersion: String(this.#rv) } } })
  }

  async close (): Promise<void> {
    for (const w of this.#watches) w.res.destroy()
    await Promise.all(this.#servers.map(async (s) => {
      s.closeAllConnections()
      await new Promise<void>((resolve) => s.close(() => resolve()))
    }))
  }

  #emit (event: WatchEvent): void {
    this.#events.push(event)
    for (const w of this.#watches) w.send(event.type, event.object)
  }

  #serve (node: string, req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://api')
    const target = parsePath(url.pathname)
    const verb = verbOf(req.method ?? 'GET', target?.name, url.searchParams)
    const answer = (status: number, body: unknown): void => {
      this.requests.push({ node, method: req.method ?? '', url: req.url ?? '', verb, status })
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const fail = (code: number, reason: string, message: string): void =>
      answer(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code })
    if (req.headers.authorization !== `Bearer ${this.#options.token}`) { fail(401, 'Unauthorized', 'Unauthorized'); return }
    if (target === null) { fail(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`); return }
    if (!this.#options.rules.some((r) => allows(r, target.group, target.resource, verb))) {
      fail(403, 'Forbidden', `${target.resource} is forbidden: User "system:serviceaccount" cannot ${verb} resource "${target.resource}" in API group "${target.group}" at the cluster scope`)
      return
    }
    if (target.group !== '' || target.resource !== 'nodes' || target.namespace !== undefined) { fail(404, 'NotFound', `no ${target.resource} here`); return }
    if (url.searchParams.has('labelSelector')) { fail(400, 'BadRequest', 'the stand-in API does not implement labelSelector'); return }
    const selector = nameSelector(url.searchParams.get('fieldSelector'))
    if (selector === undefined) { fail(400, 'BadRequest', `the stand-in API implements fieldSelector=metadata.name=<name> only, not ${url.searchParams.get('fieldSelector') ?? ''}`); return }
    if (verb === 'get') {
      const object = this.#nodes.get(target.name ?? '')
      if (object === undefined) fail(404, 'NotFound', `nodes "${target.name ?? ''}" not found`)
      else answer(200, object)
      return
    }
    const selected = (name: string): boolean => selector === null || name === selector
    if (verb === 'list') { this.#list(url.searchParams, selected, answer, fail); return }
    if (verb === 'watch') { this.#watch(node, req, url.searchParams, selected, res); return }
    fail(405, 'MethodNotAllowed', `the stand-in API does not ${verb} nodes`)
  }

  #list (query: URLSearchParams, selected: (name: string) => boolean, answer: (s: number, b: unknown) => void, fail: (c: number, r: string, m: string) => void): void {
    const asked = Number(query.get('limit') ?? '0')
    const cap = this.#options.pageSize ?? Infinity
    const limit = Math.min(asked > 0 ? asked : Infinity, cap)
    let after = ''
    const token = query.get('continue')
    if (token !== null && token !== '') {
      try {
        after = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after: string }).after
      } catch {
        fail(400, 'BadRequest', 'continue: not a token this server issued')
        return
      }
    }
    const names = [...this.#nodes.keys()].sort().filter((n) => n > after && selected(n))
    const page = names.slice(0, limit)
    const more = names.length > page.length
    answer(200, {
      kind: 'NodeList',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(this.#rv), ...(more ? { continue: Buffer.from(JSON.stringify({ after: page.at(-1) })).toString('base64url') } : {}) },
      items: page.map((n) => this.#nodes.get(n))
    })
  }

  /**
   * From a resourceVersion: the events after it. Without one (or "0"): every node as ADDED first, as
   * the real server starts such a watch. Then every new event, until timeoutSeconds or the client leaves.
   */
  #watch (node: string, req: IncomingMessage, query: URLSearchParams, selected: (name: string) => boolean, res: ServerResponse): void {
    this.requests.push({ node, method: req.method ?? '', url: req.url ?? '', verb: 'watch', status: 200 })
    const rv = query.get('resourceVersion') ?? ''
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' })
    const send = (type: string, object: NodeObject): void => { if (selected(object.metadata.name)) res.write(`${JSON.stringify({ type, object })}\n`) }
    if (rv === '' || rv === '0') for (const object of this.#nodes.values()) send('ADDED', object)
    else for (const e of this.#events.filter((e) => e.rv > Number(rv))) send(e.type, e.object)
    const watcher = { res, send }
    this.#watches.add(watcher)
    const seconds = Number(query.get('timeoutSeconds') ?? '1800')
    const timer = setTimeout(() => res.end(), Math.max(1, seconds) * 1000)
    res.once('close', () => { clearTimeout(timer); this.#watches.delete(watcher) })
  }
}

/** `metadata.name=<n>` (or `==`): the name; null without a selector; undefined for any other selector. */
function nameSelector (selector: string | null): string | null | undefined {
  if (selector === null || selector === '') return null
  const m = /^metadata\.name==?(.+)$/.exec(selector)
  return m === null ? undefined : m[1]
}

interface Target { group: string, resource: string, namespace?: string, name?: string }

/** /api/v1/[namespaces/NS/]RESOURCE[/NAME] and /apis/GROUP/VERSION/...; null for anything else. */
function parsePath (path: string): Target | null {
  const parts = path.split('/').filter((p) => p !== '')
  let group: string
  let rest: string[]
  if (parts[0] === 'api' && parts[1] === 'v1') { group = ''; rest = parts.slice(2) } else if (parts[0] === 'apis' && parts.length >= 3) { group = parts[1]!; rest = parts.slice(3) } else return null
  let namespace: string | undefined
  if (rest[0] === 'namespaces' && rest.length >= 3) { namespace = rest[1]; rest = rest.slice(2) }
  const [resource, name, ...more] = rest
  if (resource === undefined || more.length > 0) return null
  return { group, resource, ...(namespace === undefined ? {} : { namespace }), ...(name === undefined ? {} : { name }) }
}

function verbOf (method: string, name: string | undefined, query: URLSearchParams): string {
  const watch = query.get('watch') === 'true' || query.get('watch') === '1'
  switch (method) {
    case 'GET': return name !== undefined ? 'get' : watch ? 'watch' : 'list'
    case 'POST': return 'create'
    case 'PUT': return 'update'
    case 'PATCH': return 'patch'
    case 'DELETE': return name !== undefined ? 'delete' : 'deletecollection'
    default: return method.toLowerCase()
  }
}

function allows (rule: PolicyRule, group: string, resource: string, verb: string): boolean {
  const has = (list: readonly string[], v: string): boolean => list.includes('*') || list.includes(v)
  return has(rule.apiGroups, group) && has(rule.resources, resource) && has(rule.verbs, verb)
}
