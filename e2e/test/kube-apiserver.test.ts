/**
 * The stand-in API server the cluster suite relies on, over https with its CA, as a client of the real
 * one would see it: paged lists that add up to every node, get and 404, a watch that starts with
 * every node and then follows additions and deletions, field selectors by name, 401 and 403.
 */
import { request } from 'node:https'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTempDir, removeTempDir, waitFor, which } from '@weft/testkit'
import { StandInApi } from '../src/cluster/apiserver.ts'
import { makeCerts } from '../src/cluster/certs.ts'
import type { Certs } from '../src/cluster/certs.ts'

const skip = await which('openssl') === null ? 'needs openssl' : null
const TOKEN = 'a-token-for-the-test'
let dir: string
let certs: Certs
let api: StandInApi
let socket: string

beforeAll(async () => {
  if (skip !== null) return
  dir = await makeTempDir('kube-api')
  certs = await makeCerts(dir, ['10.96.0.1'])
  api = new StandInApi({ token: TOKEN, certs, dir, pageSize: 2, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }] })
  socket = await api.listen('test')
  for (const n of ['a', 'b', 'c', 'd', 'e']) api.addNode(n, [{ type: 'InternalIP', address: `192.0.2.${n.charCodeAt(0) - 96}` }])
})
afterAll(async () => {
  await api?.close()
  if (dir !== undefined) await removeTempDir(dir)
})

interface NodeJson { metadata: { name: string, creationTimestamp: string }, status: { addresses: Array<{ type: string, address: string }> } }
/** The parts of the answers the test reads. */
interface Json { items: NodeJson[], metadata: { continue?: string }, status: NodeJson['status'] }

/** A GET, the server verified against the CA as 10.96.0.1. */
async function get (path: string, token: string | null = TOKEN): Promise<{ status: number, body: Json }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, host: '10.96.0.1', path, ca: certs.ca, timeout: 10_000, headers: token === null ? {} : { Authorization: `Bearer ${token}` } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Json }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe.skipIf(skip !== null)('the stand-in API server', () => {
  it('lists every node across pages, each with its addresses and creation time', async () => {
    const names: string[] = []
    let next = ''
    for (let page = 0; page < 10; page++) {
      const { status, body } = await get(`/api/v1/nodes?limit=500${next === '' ? '' : `&continue=${next}`}`)
      expect(status).toBe(200)
      expect(body.items.length).toBeLessThanOrEqual(2)
      for (const item of body.items) {
        names.push(item.metadata.name)
        expect(item.status.addresses[0]?.type).toBe('InternalIP')
        expect(Date.parse(item.metadata.creationTimestamp)).not.toBeNaN()
      }
      next = body.metadata.continue ?? ''
      if (next === '') break
    }
    expect(names).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  it('gets one node, answers 404 for a missing one, and selects by name', async () => {
    expect((await get('/api/v1/nodes/c')).body.status.addresses[0]?.address).toBe('192.0.2.3')
    expect((await get('/api/v1/nodes/zz')).status).toBe(404)
    expect((await get('/api/v1/nodes?fieldSelector=metadata.name%3Dd')).body.items.map((i) => i.metadata.name)).toEqual(['d'])
    expect((await get('/api/v1/nodes?labelSelector=x%3Dy')).status).toBe(400)
  })

  it('streams a watch: every node first, then an addition and a deletion', async () => {
    const events: string[] = []
    const req = request({ socketPath: socket, host: '10.96.0.1', path: '/api/v1/nodes?watch=1', ca: certs.ca, headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
      let buf = ''
      res.on('data', (c: Buffer) => {
        buf += c.toString()
        const lines = buf.split('\n')
        buf = lines.pop() ?? ''
        for (const l of lines) { const e = JSON.parse(l) as { type: string, object: NodeJson }; events.push(`${e.type} ${e.object.metadata.name}`) }
      })
    })
    req.on('error', () => {})
    req.end()
    try {
      await waitFor('the initial events', () => events.length === 5, 100, 50)
      api.addNode('f', [{ type: 'InternalIP', address: '192.0.2.6' }])
      api.deleteNode('a')
      await waitFor('the changes', () => events.length === 7, 100, 50)
      expect(events).toEqual(['ADDED a', 'ADDED b', 'ADDED c', 'ADDED d', 'ADDED e', 'ADDED f', 'DELETED a'])
    } finally {
      req.destroy()
    }
  })

  it('refuses a missing or wrong token, and what the rules do not grant', async () => {
    expect((await get('/api/v1/nodes', null)).status).toBe(401)
    expect((await get('/api/v1/nodes', 'wrong')).status).toBe(401)
    expect((await get('/api/v1/namespaces/kube-system/configmaps')).status).toBe(403)
    expect((await get('/apis/apps/v1/daemonsets')).status).toBe(403)
  })
})
