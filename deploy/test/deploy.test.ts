/**
 * Docker does not run on the machines this project is built on, so the image, the DaemonSet and the
 * compose file are checked statically: every file they copy exists, every environment they give the
 * agent passes the agent's own config parser, and the CNI config they install passes the plugin's.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments, parse } from 'yaml'
import { parseConfig as parseAgentConfig } from '@weft/agent'
import { parseConfig as parseCniConfig, parseEnv, SUPPORTED_VERSIONS } from '@weft/cni'
import { buildPlugin, WEFT_CNI } from '@weft/testkit'
import { VXLAN_OVERHEAD } from '@weft/routes'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const read = (p: string): string => readFileSync(join(root, p), 'utf8')

type Json = Record<string, unknown>
const obj = (v: unknown): Json => v as Json

describe('deploy/Dockerfile', () => {
  const lines = read('deploy/Dockerfile').split('\n').map(l => l.trim())

  it('copies only files that exist in the repository', () => {
    const copies = lines.filter(l => l.startsWith('COPY ') && !l.includes('--from='))
    expect(copies.length).toBeGreaterThan(3)
    for (const c of copies) {
      const parts = c.split(/\s+/).slice(1, -1)
      for (const src of parts) expect(existsSync(join(root, src)), `${c}: ${src}`).toBe(true)
    }
  })

  it('runs scripts and an entrypoint that exist', () => {
    for (const l of lines.filter(l => l.startsWith('RUN bash '))) {
      expect(existsSync(join(root, l.split(/\s+/)[2]!)), l).toBe(true)
    }
    const entry = lines.find(l => l.startsWith('ENTRYPOINT'))!
    const path = (JSON.parse(entry.slice('ENTRYPOINT'.length)) as string[])[0]!
    expect(existsSync(join(root, path.replace('/opt/weft/', '')))).toBe(true)
  })

  it('installs the plugin with a shell script that parses', () => {
    const script = join(root, 'deploy/install-cni.sh')
    expect(statSync(script).mode & 0o111).not.toBe(0)
    execFileSync('bash', ['-n', script])
  })

  it('has a C compiler in the build stage, before the plugin is built', () => {
    const build = lines.findIndex(l => l === 'RUN bash scripts/build-cni.sh')
    const compiler = lines.findIndex(l => /apt-get install .*\bgcc\b.*\blibc6-dev\b/.test(l))
    expect(compiler).toBeGreaterThanOrEqual(0)
    expect(compiler).toBeLessThan(build)
  })
})

describe('deploy/install-cni.sh', () => {
  it('puts the plugin (at most 5 MiB, answering VERSION) and the manifest\'s conflist in the host\'s CNI directories', async () => {
    await buildPlugin()
    const host = mkdtempSync(join(tmpdir(), 'weft-install-'))
    try {
      const conflist = join(host, 'source.conflist')
      const manifest = parseAllDocuments(read('deploy/kubernetes/weft.yaml')).map(d => obj(d.toJSON()))
      writeFileSync(conflist, obj(manifest.find(d => d.kind === 'ConfigMap')!.data)['10-weft.conflist'] as string)
      const env = { ...process.env, CNI_BIN_DIR: join(host, 'bin'), CNI_CONF_DIR: join(host, 'net.d'), WEFT_CONFLIST: conflist, WEFT_CNI_PLUGIN: WEFT_CNI }
      execFileSync('bash', [join(root, 'deploy/install-cni.sh')], { env, timeout: 10_000 })
      const plugin = join(host, 'bin', 'weft')
      expect(statSync(plugin).size).toBeLessThanOrEqual(5 * 1024 * 1024)
      const version = JSON.parse(execFileSync(plugin, { env: { CNI_COMMAND: 'VERSION' }, timeout: 10_000 }).toString()) as Json
      expect(version.supportedVersions).toEqual([...SUPPORTED_VERSIONS])
      expect(readFileSync(join(host, 'net.d', '10-weft.conflist'), 'utf8')).toBe(readFileSync(conflist, 'utf8'))
    } finally {
      rmSync(host, { recursive: true, force: true })
    }
  })
})

describe('deploy/kubernetes/weft.yaml', () => {
  const docs = parseAllDocuments(read('deploy/kubernetes/weft.yaml')).map(d => obj(d.toJSON()))
  const kind = (k: string): Json => docs.find(d => d.kind === k)!
  const pod = obj(obj(obj(kind('DaemonSet').spec).template).spec)
  const agent = (pod.containers as Json[]).find(c => c.name === 'weft')!
  const env: Record<string, string> = {
    ...Object.fromEntries((agent.env as Json[]).filter(e => 'value' in e).map(e => [e.name, e.value])),
    // What Kubernetes puts in every pod's environment.
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443'
  }

  it('gives the agent an environment its config parser accepts, with nothing to edit per cluster', () => {
    const conf = parseAgentConfig({ ...env, WEFT_NICKNAME: 'node-1' }, { hostname: 'node-1' })
    expect(conf.pools.pools.map(p => [p.name, p.range])).toEqual([['default', '10.32.0.0/12']])
    // No count and no peer list: the Node list gives both, with no cluster DNS.
    expect(conf.init).toEqual({ kind: 'kubernetes' })
    expect(conf.peers).toEqual([])
    expect(conf.kube).toMatchObject({ discovery: true, reclaim: true, meshPort: 6783 })
    expect(Object.keys(env)).not.toContain('IPALLOC_INIT')
    expect(docs.filter(d => d.kind === 'Service')).toEqual([])
    expect(pod.dnsPolicy).toBe('Default')
    expect(conf.swarmKeyFile).not.toBeNull()
  })

  it('fills the node name and address from the downward API', () => {
    const field = (name: string): unknown => obj(obj((agent.env as Json[]).find(e => e.name === name)?.valueFrom).fieldRef).fieldPath
    expect(field('WEFT_NICKNAME')).toBe('spec.nodeName')
    expect(field('WEFT_NODE_IP')).toBe('status.hostIP')
  })

  it('installs a CNI config the plugin accepts, pointing at the agent socket', () => {
    const conflist = JSON.parse(obj(kind('ConfigMap').data)['10-weft.conflist'] as string) as Json
    const bridge = (conflist.plugins as Json[])[0]!
    expect(obj(bridge.ipam).type).toBe('weft')
    const invocation = parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/x', CNI_PATH: '/opt/cni/bin' })
    expect(invocation).not.toBeNull()
    const conf = parseCniConfig(JSON.stringify({ ...bridge, cniVersion: conflist.cniVersion, name: conflist.name }), invocation!)
    expect(conf.ipam.socket).toBe(env.WEFT_SOCKET)
    // The bridge takes its address from the result: weft's node gateway, never the range's first address.
    expect(bridge).toMatchObject({ type: 'bridge', isGateway: true })
    expect(conf.ipam.gateway).toBe(true)
  })

  it('upgrades allocations stored without a network to the network of the conflist it installs', () => {
    const conflist = JSON.parse(obj(kind('ConfigMap').data)['10-weft.conflist'] as string) as Json
    expect(parseAgentConfig({ ...env, WEFT_NICKNAME: 'node-1' }, { hostname: 'node-1' }).migrateNetwork).toBe(conflist.name)
  })

  it('lets the agent read nodes, and nothing more', () => {
    const conf = parseAgentConfig({ ...env, WEFT_NICKNAME: 'node-1' }, { hostname: 'node-1' })
    expect(conf.kube?.api.href).toBe('https://10.96.0.1/')
    const role = kind('ClusterRole')
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }])
    const binding = kind('ClusterRoleBinding')
    expect(obj(binding.roleRef).name).toBe(obj(role.metadata).name)
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: obj(kind('ServiceAccount').metadata).namespace }])
    const nickname = (agent.env as Json[]).find(e => e.name === 'WEFT_NICKNAME')!
    expect(obj(obj(nickname.valueFrom).fieldRef).fieldPath).toBe('spec.nodeName')
  })

  it('routes over VXLAN from the node\'s own address, with pods at the tunnel\'s MTU on the bridge it sets up', () => {
    const conf = parseAgentConfig({ ...env, WEFT_NICKNAME: 'node-1', WEFT_NODE_IP: '192.0.2.10' }, { hostname: 'node-1' })
    expect(conf.routing.mode).toBe('vxlan')
    const nodeIp = (agent.env as Json[]).find(e => e.name === 'WEFT_NODE_IP')!
    expect(obj(obj(nodeIp.valueFrom).fieldRef).fieldPath).toBe('status.hostIP')
    const bridge = (JSON.parse(obj(kind('ConfigMap').data)['10-weft.conflist'] as string) as { plugins: Json[] }).plugins[0]!
    expect(bridge.bridge).toBe(conf.routing.bridge)
    expect(bridge.mtu).toBe(1500 - VXLAN_OVERHEAD[4])
    expect(obj(agent.securityContext).privileged).toBe(true)
  })

  it('keeps the swarm key root-only and the state on the host', () => {
    const volumes = pod.volumes as Json[]
    expect(obj(volumes.find(v => v.name === 'swarm-key')!.secret).defaultMode).toBe(0o400)
    expect(obj(volumes.find(v => v.name === 'data')!.hostPath).path).toBe(env.WEFT_DATA_DIR)
  })
})

describe('docker-compose.yml', () => {
  const compose = obj(parse(read('docker-compose.yml'), { merge: true }))
  const services = obj(compose.services)

  it('runs three agents whose environments the config parser accepts', () => {
    const agents = Object.keys(services).filter(s => s.startsWith('agent'))
    expect(agents).toHaveLength(3)
    for (const name of agents) {
      const env = obj(obj(services[name]).environment) as Record<string, string>
      const conf = parseAgentConfig(env, { hostname: name })
      expect(conf.init).toEqual({ kind: 'consensus', count: 3 })
      expect(conf.nickname).toBe(name)
      expect(conf.peers).toHaveLength(3)
    }
  })

  it('builds from the Dockerfile that exists', () => {
    const build = obj(obj(services.agent1).build)
    expect(existsSync(join(root, build.dockerfile as string))).toBe(true)
  })
})
