/**
 * A runtime no one here wrote: podman 4.3 with its CNI backend (libcni) and runc, running containers
 * and Kubernetes Pod YAML on the network the manifest installs, against a real agent. Each scenario
 * makes its own agent, podman set-up and namespace, and removes them also when it fails.
 */
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AllocationInfo } from '@weft/protocol'
import { describe, expect, it } from 'vitest'
import { buildPlugin, Cluster } from '@weft/testkit'
import type { AgentProcess, AgentSpec } from '@weft/testkit'
import { weft } from '../src/cli.ts'
import { IMAGE, Podman, podmanSkipReason } from '../src/podman.ts'

const skipReason = await podmanSkipReason()
if (skipReason !== null) console.warn(`podman: skipped: ${skipReason}`)

const RANGE = '10.32.0.0/12'
const GATEWAY = ':gateway'

interface Scene {
  cluster: Cluster
  agent: AgentProcess
  spec: AgentSpec
  pm: Podman
  /** What the agent holds: its gateway of the network, and each container id's address. */
  held: () => Promise<{ gateway: string | undefined, pods: Map<string, string> }>
}

async function scenario (label: string, body: (s: Scene) => Promise<void>): Promise<void> {
  await buildPlugin()
  const cluster = await Cluster.create(`podman-${label}`)
  let pm: Podman | undefined
  try {
    const spec: AgentSpec = { name: 'node', dataDir: join(cluster.dir, 'node'), env: { IPALLOC_RANGE: RANGE, IPALLOC_INIT: 'consensus=1' } }
    const agent = await cluster.start(spec)
    await agent.client.prime()
    pm = await Podman.create({ socketPath: agent.socketPath })
    const scene: Scene = { cluster, agent, spec, pm, held: async () => await held(scene.agent, scene.pm.network) }
    await body(scene)
  } finally {
    await pm?.teardown()
    await cluster.teardown()
  }
}

async function held (agent: AgentProcess, network: string): Promise<{ gateway: string | undefined, pods: Map<string, string> }> {
  const all: AllocationInfo[] = (await agent.client.allocations()).allocations
  return {
    gateway: all.find(a => a.containerId === GATEWAY && a.network === network)?.address,
    pods: new Map(all.filter(a => a.containerId !== GATEWAY).map(a => [a.containerId, a.address]))
  }
}

const inRange = /^10\.(3[2-9]|4[0-7])\.\d+\.\d+$/

describe.skipIf(skipReason !== null)('podman 4.3 (CNI backend) on weft', () => {
  it('1. podman run: distinct weft addresses, none the bridge\'s, and the containers ping each other', async () => {
    await scenario('run', async ({ pm, held }) => {
      const names = ['c1', 'c2', 'c3']
      for (const n of names) await pm.must(['run', '-d', '--name', n, '--network', pm.network, IMAGE])
      const addresses = await Promise.all(names.map(async n => await pm.address(n)))
      for (const a of addresses) expect(a).toMatch(inRange)
      expect(new Set(addresses).size).toBe(3)
      const { gateway, pods } = await held()
      expect(gateway).toMatch(inRange)
      expect(await pm.bridgeAddresses()).toEqual([`${gateway}/12`])
      expect(addresses).not.toContain(gateway)
      const ids = await Promise.all(names.map(async n => await pm.id(n)))
      expect(pods).toEqual(new Map(ids.map((id, i) => [id, addresses[i]])))
      for (const [i, n] of names.entries()) {
        expect(await pm.ping(n, addresses[(i + 1) % 3] ?? ''), `${n} -> ${addresses[(i + 1) % 3]}`).toBe(true)
      }
      expect(await pm.ping('c1', gateway ?? '')).toBe(true)
    })
  })

  it('2. podman rm releases the addresses; podman restart leaves nothing leaked or doubled', async () => {
    await scenario('rm', async ({ pm, held }) => {
      for (const n of ['c1', 'c2']) await pm.must(['run', '-d', '--name', n, '--network', pm.network, IMAGE])
      const [id1, id2] = [await pm.id('c1'), await pm.id('c2')]
      await pm.must(['rm', '-f', '-t', '0', 'c1'])
      expect([...(await held()).pods.keys()]).toEqual([id2])
      for (let i = 0; i < 3; i++) {
        await pm.must(['restart', '-t', '0', 'c2'])
        const { pods } = await held()
        expect([...pods.entries()]).toEqual([[id2, await pm.address('c2')]])
      }
      expect(id1).not.toBe(id2)
      await pm.must(['rm', '-f', '-t', '0', 'c2'])
      const after = await held()
      expect(after.pods.size).toBe(0)
      expect(after.gateway).toMatch(inRange)
    })
  })

  it('3. podman kube play: the pod gets a weft address and weft ps shows its namespace and name', async () => {
    await scenario('kube', async ({ agent, pm, held }) => {
      const yaml = join(pm.dir, 'pod.yaml')
      await writeFile(yaml, [
        'apiVersion: v1', 'kind: Pod', 'metadata:', '  name: kp', '  namespace: default', 'spec:', '  containers:',
        '    - name: app', `      image: ${IMAGE}`, '      command: ["/bin/sleep", "3600"]', ''
      ].join('\n'))
      await pm.must(['kube', 'play', '--network', pm.network, yaml], 120_000)
      const infra = await pm.must(['pod', 'inspect', 'kp', '--format', '{{.InfraContainerID}}'])
      const address = await pm.address(infra)
      expect(address).toMatch(inRange)
      expect([...(await held()).pods.entries()]).toEqual([[infra, address]])
      const ps = await weft(['ps', '--socket', agent.socketPath])
      expect(ps.code, ps.stderr).toBe(0)
      const line = ps.stdout.split('\n').find(l => l.includes(address))
      expect(line).toContain('default/kp')
      await pm.must(['kube', 'down', yaml], 120_000)
      expect((await held()).pods.size).toBe(0)
    })
  })

  it('4. kill -9 of the agent during podman run, restarted as a DaemonSet would: the run succeeds or fails retryably, nothing leaked or doubled', async () => {
    await scenario('kill', async (s) => {
      const { pm, cluster } = s
      const outcomes: string[] = []
      for (const [i, delayMs] of [0, 100, 250, 500].entries()) {
        const name = `k${i}`
        const running = pm.podman(['run', '-d', '--name', name, '--network', pm.network, IMAGE], 120_000)
        await new Promise(resolve => setTimeout(resolve, delayMs))
        await cluster.kill(s.agent)
        s.agent = await cluster.start(s.spec)
        const r = await running
        if (r.code === 0) {
          outcomes.push('ran')
          const address = await pm.address(name)
          expect((await s.held()).pods.get(await pm.id(name))).toBe(address)
        } else {
          outcomes.push('failed')
          // Only the plugin's "try again later" may fail it: the agent was gone for longer than the plugin waits.
          expect(r.stderr).toContain('cannot reach the weft agent')
          await pm.podman(['rm', '-f', '-t', '0', name])
        }
      }
      // Every address the agent holds belongs to a container that exists, and no two share one.
      const existing = new Set((await pm.must(['ps', '-aq', '--no-trunc'])).split('\n').filter(l => l !== ''))
      const { pods, gateway } = await s.held()
      for (const id of pods.keys()) expect(existing.has(id), `leaked: ${id} (${outcomes.join(',')})`).toBe(true)
      expect(new Set([...pods.values(), gateway]).size).toBe(pods.size + 1)
      await pm.must(['rm', '-af', '-t', '0'])
      expect((await s.held()).pods.size).toBe(0)
    })
  })

  it('5. the agent stopped while containers run and started again: podman rm releases through libcni\'s cached result', async () => {
    await scenario('cache', async (s) => {
      const { pm, cluster } = s
      for (const n of ['c1', 'c2']) await pm.must(['run', '-d', '--name', n, '--network', pm.network, IMAGE])
      const before = (await s.held()).pods
      expect(before.size).toBe(2)
      await cluster.stop(s.agent)
      expect(await pm.ping('c1', await pm.address('c2'))).toBe(true)
      s.agent = await cluster.start(s.spec)
      expect((await s.held()).pods).toEqual(before)
      // The conflist gone from the config dir: podman tears down from the config libcni cached at ADD.
      await rm(join(pm.confDir, '10-weft.conflist'))
      await pm.must(['rm', '-f', '-t', '0', 'c1', 'c2'])
      expect((await s.held()).pods.size).toBe(0)
    })
  })

  it('6. the CNI verbs podman 4.3 sends, each answered with success; DEL carries libcni\'s cached result', async () => {
    await scenario('verbs', async ({ pm, held }) => {
      // A logging shim in front of the installed plugin: each verb libcni sends, its exit code, and
      // whether the config on stdin carried a prevResult (libcni's cached result of the ADD).
      const real = join(pm.binDir, 'weft.installed')
      const log = join(pm.dir, 'verbs.log')
      await rename(join(pm.binDir, 'weft'), real)
      await writeFile(join(pm.binDir, 'weft'), [
        '#!/bin/sh',
        `in=$(mktemp -p "${pm.dir}")`,
        'cat > "$in"',
        `"${real}" "$@" < "$in"`,
        'rc=$?',
        'prev=no; grep -q \'"prevResult"\' "$in" && prev=yes',
        `echo "$CNI_COMMAND $rc prevResult=$prev" >> "${log}"`,
        'rm -f "$in"',
        'exit $rc',
        ''
      ].join('\n'))
      await chmod(join(pm.binDir, 'weft'), 0o755)
      await pm.must(['run', '-d', '--name', 'c1', '--network', pm.network, IMAGE])
      await pm.must(['restart', '-t', '0', 'c1'])
      await pm.must(['network', 'reload', 'c1'])
      await pm.must(['rm', '-f', '-t', '0', 'c1'])
      expect((await held()).pods.size).toBe(0)
      const verbs = (await readFile(log, 'utf8')).split('\n').filter(l => l !== '')
      // podman 4.3's libcni sends ADD and DEL only (no CHECK, GC or STATUS): a newer one that does is
      // to be tested here too.
      expect(verbs).toEqual([
        'ADD 0 prevResult=no', // run
        'DEL 0 prevResult=yes', 'ADD 0 prevResult=no', // restart
        'DEL 0 prevResult=yes', 'ADD 0 prevResult=no', // network reload
        'DEL 0 prevResult=yes' // rm
      ])
    })
  })
})
