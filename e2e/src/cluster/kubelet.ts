/**
 * What the kubelet does for the DaemonSet's pod on one node: lays out its volumes (hostPaths, the
 * ConfigMaps' and Secrets' files, the service account token and CA), then runs each container as a
 * runtime would: in a mount namespace of its own inside the node with the image's files at /opt/weft
 * and its volumeMounts in place, the command from the manifest (or the image's entrypoint), and the
 * environment the kubelet gives: the image's, the container's with fieldRefs filled from the pod and
 * node, and the `kubernetes` Service's.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { REPO_ROOT, run } from '@weft/testkit'
import type { RunResult } from '@weft/testkit'
import type { Image } from './image.ts'
import type { Container, Manifest } from './manifest.ts'
import type { NodeRoot } from './node-root.ts'

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'
/** Where the kubelet keeps this pod's volumes on the node. */
export const POD_DIR = '/var/lib/kubelet/pods/weft'
const CLUSTER_DNS = '10.96.0.10'

/** Applies the container's mounts inside its new mount namespace, then becomes its command. */
const CONTAINER = `set -eu
wd=$1 n=$2; shift 2
while [ "$n" -gt 0 ]; do
  if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "$(dirname "$2")"; [ -e "$2" ] || : > "$2"; fi
  mount --bind "$1" "$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$2"; fi
  shift 3; n=$((n - 1))
done
cd "$wd"
exec "$@"
`

/** What the kubelet knows of the pod and its node, for fieldRefs. */
export interface PodFacts {
  readonly nodeName: string
  readonly hostIPs: readonly string[]
  readonly podName: string
  readonly namespace: string
  readonly serviceAccount: string
  /** The `kubernetes` Service as pods dial it. */
  readonly service: { readonly host: string, readonly port: number }
}

export interface Secrets { readonly [secretName: string]: Readonly<Record<string, string>> }

export interface ServiceAccount { readonly token: string, readonly ca: string }

export class Kubelet {
  readonly #m: Manifest
  readonly #image: Image
  readonly #node: NodeRoot
  readonly #facts: PodFacts
  /** The node's temp dir on the machine: `kubelet/` is its POD_DIR. */
  readonly #dir: string
  /** Set on the DaemonSet's containers as `kubectl set env` would. */
  #overrides: Readonly<Record<string, string>>

  constructor (m: Manifest, image: Image, node: NodeRoot, facts: PodFacts, dir: string, overrides: Readonly<Record<string, string>>) {
    this.#m = m
    this.#image = image
    this.#node = node
    this.#facts = facts
    this.#dir = dir
    this.#overrides = overrides
  }

  /** The pod's volumes as files under the node's POD_DIR (the machine's `<dir>/kubelet`). */
  async layOut (secrets: Secrets, account: ServiceAccount): Promise<void> {
    const vol = (name: string): string => join(this.#dir, 'kubelet', 'volumes', name)
    for (const v of this.#m.pod.volumes ?? []) {
      if (v.hostPath !== undefined) continue
      const files = v.configMap !== undefined ? this.#m.configMaps.get(v.configMap.name) : v.secret !== undefined ? secrets[v.secret.secretName] : undefined
      if (files === undefined) throw new Error(`volume ${v.name}: the harness has no ${v.configMap !== undefined ? `ConfigMap ${v.configMap.name}` : v.secret !== undefined ? `Secret ${v.secret.secretName}` : 'source of this kind'}`)
      await writeFiles(vol(v.name), files, v.secret?.defaultMode ?? 0o644)
    }
    await writeFiles(vol('serviceaccount'), { token: account.token, 'ca.crt': account.ca, namespace: this.#facts.namespace }, 0o644)
    const search = [`${this.#facts.namespace}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local']
    await writeFile(join(this.#dir, 'kubelet', 'resolv.conf'), `search ${search.join(' ')}\nnameserver ${CLUSTER_DNS}\noptions ndots:5\n`)
  }

  /** Runs every init container to completion, in order; throws with its output if one fails. */
  async runInit (): Promise<RunResult[]> {
    const results: RunResult[] = []
    for (const c of this.#m.pod.initContainers ?? []) {
      const r = await run(this.#argv(c), 60_000)
      if (r.code !== 0) throw new Error(`init container ${c.name} failed (${r.code}): ${r.stdout}${r.stderr}`)
      results.push(r)
    }
    return results
  }

  /** Starts a container; its output goes to `log`. */
  start (c: Container, log: string): ChildProcess {
    const fd = openSync(log, 'a')
    try {
      const [cmd = '', ...args] = this.#argv(c)
      return spawn(cmd, args, { env: this.env(c), stdio: ['ignore', fd, fd] })
    } finally {
      closeSync(fd)
    }
  }

  /** Runs the container's readiness probe in it, as the kubelet's exec probe does; true on exit 0. */
  async probe (c: Container, pid: number): Promise<boolean> {
    const command = c.readinessProbe?.exec?.command
    if (command === undefined) return true
    const [cmd = '', ...args] = this.#node.enter(command, pid)
    return await new Promise((resolve) => {
      const p = spawn(cmd, args, { env: this.env(c), stdio: 'ignore', timeout: 10_000 })
      p.once('error', () => resolve(false))
      p.once('exit', (code) => resolve(code === 0))
    })
  }

  /** The container's environment, as the kubelet and runtime assemble it. */
  /** `kubectl set env` on the DaemonSet: the agent's next start has `env` too. */
  setEnv (env: Readonly<Record<string, string>>): void {
    this.#overrides = { ...this.#overrides, ...env }
  }

  env (c: Container): Record<string, string> {
    const { service } = this.#facts
    const env: Record<string, string> = {
      ...this.#image.env,
      HOSTNAME: this.#facts.nodeName,
      KUBERNETES_SERVICE_HOST: service.host,
      KUBERNETES_SERVICE_PORT: String(service.port),
      KUBERNETES_SERVICE_PORT_HTTPS: String(service.port),
      KUBERNETES_PORT: `tcp://${service.host}:${service.port}`
    }
    for (const e of c.env ?? []) env[e.name] = this.#value(c, e)
    return { ...env, ...(c.name === this.#agentName() ? this.#overrides : {}) }
  }

  #agentName (): string | undefined {
    return this.#m.pod.containers[0]?.name
  }

  #value (c: Container, e: NonNullable<Container['env']>[number]): string {
    if (e.value !== undefined) return e.value
    const field = e.valueFrom?.fieldRef?.fieldPath
    if (field !== undefined) {
      const f = this.#facts
      const fields: Record<string, string> = {
        'spec.nodeName': f.nodeName,
        'metadata.name': f.podName,
        'metadata.namespace': f.namespace,
        'spec.serviceAccountName': f.serviceAccount,
        'status.hostIP': f.hostIPs[0] ?? '',
        'status.hostIPs': f.hostIPs.join(','),
        // hostNetwork: the pod's addresses are its node's.
        'status.podIP': f.hostIPs[0] ?? '',
        'status.podIPs': f.hostIPs.join(',')
      }
      const v = fields[field]
      if (v === undefined) throw new Error(`container ${c.name}, env ${e.name}: the harness cannot fill fieldRef ${field}`)
      return v
    }
    const ref = e.valueFrom?.configMapKeyRef
    if (ref !== undefined) {
      const v = this.#m.configMaps.get(ref.name)?.[ref.key]
      if (v === undefined) throw new Error(`container ${c.name}, env ${e.name}: no key ${ref.key} in ConfigMap ${ref.name}`)
      return v
    }
    throw new Error(`container ${c.name}, env ${e.name}: neither a value nor a source the harness knows`)
  }

  /** The runtime's command line: nsenter into the node, a mount namespace of its own, its mounts, its command. */
  #argv (c: Container): string[] {
    const image = this.#image
    const command = c.command !== undefined ? [...c.command, ...c.args ?? []] : [...image.entrypoint, ...c.args ?? image.cmd]
    const mounts: Array<[string, string, 'ro' | 'rw']> = [[REPO_ROOT, image.workdir, 'ro']]
    for (const vm of c.volumeMounts ?? []) {
      const v = (this.#m.pod.volumes ?? []).find((x) => x.name === vm.name)
      if (v === undefined) throw new Error(`container ${c.name} mounts ${vm.name}, which is not a volume of the pod`)
      const base = v.hostPath !== undefined ? v.hostPath.path : join(POD_DIR, 'volumes', v.name)
      mounts.push([vm.subPath === undefined ? base : join(base, vm.subPath), vm.mountPath, vm.readOnly === true ? 'ro' : 'rw'])
    }
    mounts.push([join(POD_DIR, 'volumes', 'serviceaccount'), SERVICE_ACCOUNT_DIR, 'ro'])
    if (this.#m.pod.dnsPolicy === 'ClusterFirstWithHostNet') mounts.push([join(POD_DIR, 'resolv.conf'), '/etc/resolv.conf', 'ro'])
    return this.#node.enter(['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', CONTAINER, c.name,
      image.workdir, String(mounts.length), ...mounts.flat(), ...command])
  }
}

async function writeFiles (dir: string, files: Readonly<Record<string, string>>, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true })
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true })
    await writeFile(join(dir, name), text)
    await chmod(join(dir, name), mode)
  }
}
