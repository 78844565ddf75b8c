/**
 * The cluster harness itself, on two nodes built from the shipped manifest: the init container puts
 * the plugin and the ConfigMap's conflist into each node's CNI dirs, the agent runs with the
 * DaemonSet's env (fieldRefs filled), answers the readiness probe, and reads the stand-in API server
 * through the node's `kubernetes` Service with the service account's token and CA, paging as it goes.
 * The stand-in refuses a request without the token and one the manifest's RBAC does not grant.
 */
import { readFile, stat } from 'node:fs/promises'
import { request } from 'node:https'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildPlugin, teardownInOrder, waitFor, WEFT_CNI } from '@weft/testkit'
import { Lan } from '../src/lan.ts'
import { clusterSkipReason } from '../src/cluster/scenario.ts'
import { KubeCluster, SERVICE } from '../src/cluster/cluster.ts'
import type { KubeNode } from '../src/cluster/cluster.ts'
import { CNI_BIN_DIR, CNI_CONF_DIR } from '../src/cluster/cni-runtime.ts'
import { agentContainer } from '../src/cluster/manifest.ts'

const skip = await clusterSkipReason()
let lan: Lan
let cluster: KubeCluster
let nodes: KubeNode[]

beforeAll(async () => {
  if (skip !== null) return
  await buildPlugin()
  lan = await Lan.create('198.18.61')
  cluster = await KubeCluster.create({ label: 'harness', pageSize: 1 })
  nodes = [await cluster.join('node-1', await lan.add('n1', 1)), await cluster.join('node-2', await lan.add('n2', 2))]
}, 180_000)
afterAll(async () => {
  await teardownInOrder(cluster, lan)
})

/** A GET to the stand-in's socket of `node`, verified against the cluster CA as the Service address. */
async function apiGet (socket: string, path: string, token: string | null, ca: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, host: SERVICE.host, path, ca, timeout: 10_000, headers: token === null ? {} : { Authorization: `Bearer ${token}` } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

describe.skipIf(skip !== null)('a cluster built from deploy/kubernetes/weft.yaml', () => {
  it('runs the init container: the plugin and the ConfigMap\'s conflist are in the node\'s CNI dirs', async () => {
    const built = await readFile(WEFT_CNI)
    const conflist = cluster.manifest.configMaps.get('weft-cni')?.['10-weft.conflist']
    expect(conflist).toBeDefined()
    for (const n of nodes) {
      expect((await readFile(n.hostPath(join(CNI_BIN_DIR, 'weft')))).equals(built), n.name).toBe(true)
      expect((await stat(n.hostPath(join(CNI_BIN_DIR, 'weft')))).mode & 0o111).not.toBe(0)
      expect(await readFile(n.hostPath(join(CNI_CONF_DIR, '10-weft.conflist')), 'utf8')).toBe(conflist)
      expect((await n.conflist()).name).toBe('weft')
    }
  })

  it('runs the agent with the DaemonSet\'s env, fieldRefs filled as the kubelet does', async () => {
    await waitFor('the readiness probes', async () => (await Promise.all(nodes.map(async (n) => await n.probe()))).every(Boolean), 150, 200)
    for (const n of nodes) {
      const env = n.kubelet.env(agentContainer(cluster.manifest.pod))
      expect(env.KUBERNETES_SERVICE_HOST).toBe(SERVICE.host)
      for (const e of agentContainer(cluster.manifest.pod).env ?? []) {
        if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') expect(env[e.name]).toBe(n.name)
        if (e.valueFrom?.fieldRef?.fieldPath === 'status.hostIP' || e.valueFrom?.fieldRef?.fieldPath === 'status.hostIPs') expect(env[e.name]).toBe(n.host.ip)
      }
      const status = await n.client.status()
      expect(status.peer.nickname).toBe(n.name)
    }
  })

  it('lets every agent list the Nodes through its node\'s Service, with the token and CA, page by page', async () => {
    await waitFor('a Node listing from every agent', () =>
      nodes.every((n) => cluster.api.requests.some((r) => r.node === n.name && r.verb === 'list' && r.status === 200 && r.url.includes('continue='))), 600, 200)
    expect(cluster.api.requests.filter((r) => r.status !== 200).map((r) => `${r.node} ${r.verb} ${r.url} ${r.status}`)).toEqual([])
    await waitFor('both nodes in every agent\'s status', async () =>
      (await Promise.all(nodes.map(async (n) => (await n.client.status()).kubernetes?.nodes))).every((count) => count === 2), 300, 200)
    for (const n of nodes) expect((await n.client.status()).kubernetes?.api).toContain(SERVICE.host)
  })

  it('refuses a request without the token, and one the ClusterRole does not grant', async () => {
    const socket = await cluster.api.listen('test')
    const { ca, token } = cluster.serviceAccount
    expect(await apiGet(socket, '/api/v1/nodes', null, ca)).toBe(401)
    expect(await apiGet(socket, '/api/v1/nodes', token, ca)).toBe(200)
    expect(await apiGet(socket, '/api/v1/namespaces/kube-system/secrets', token, ca)).toBe(403)
  })
})
