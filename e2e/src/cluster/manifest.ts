/**
 * The shipped DaemonSet as the kubelet sees it, read from deploy/kubernetes/weft.yaml itself: the pod
 * spec (containers, env, volumes, probes), the ConfigMaps its volumes name and the RBAC its service
 * account is bound to. Only the fields the cluster harness acts on are typed; anything it would have to
 * ignore silently (an env source or volume kind it cannot reproduce) is refused by name instead.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { REPO_ROOT } from '@weft/testkit'

export const MANIFEST = join(REPO_ROOT, 'deploy', 'kubernetes', 'weft.yaml')

export interface EnvVar {
  readonly name: string
  readonly value?: string
  readonly valueFrom?: {
    readonly fieldRef?: { readonly fieldPath: string }
    readonly configMapKeyRef?: { readonly name: string, readonly key: string }
  }
}

export interface VolumeMount {
  readonly name: string
  readonly mountPath: string
  readonly subPath?: string
  readonly readOnly?: boolean
}

export interface Container {
  readonly name: string
  readonly command?: readonly string[]
  readonly args?: readonly string[]
  readonly env?: readonly EnvVar[]
  readonly volumeMounts?: readonly VolumeMount[]
  readonly readinessProbe?: { readonly exec?: { readonly command: readonly string[] } }
}

export interface Volume {
  readonly name: string
  readonly hostPath?: { readonly path: string, readonly type?: string }
  readonly configMap?: { readonly name: string }
  readonly secret?: { readonly secretName: string, readonly defaultMode?: number }
}

export interface PodSpec {
  readonly serviceAccountName?: string
  readonly hostNetwork?: boolean
  readonly dnsPolicy?: string
  readonly initContainers?: readonly Container[]
  readonly containers: readonly Container[]
  readonly volumes?: readonly Volume[]
}

export interface PolicyRule {
  readonly apiGroups: readonly string[]
  readonly resources: readonly string[]
  readonly verbs: readonly string[]
}

export interface Manifest {
  readonly namespace: string
  readonly pod: PodSpec
  /** ConfigMap name -> its data. */
  readonly configMaps: ReadonlyMap<string, Readonly<Record<string, string>>>
  /** The rules of every ClusterRole bound to the DaemonSet's service account. */
  readonly rules: readonly PolicyRule[]
}

type Doc = Record<string, unknown> & {
  kind?: string
  metadata?: { name?: string, namespace?: string }
  data?: Record<string, string>
  spec?: { template?: { spec?: PodSpec } }
  rules?: PolicyRule[]
  roleRef?: { kind?: string, name?: string }
  subjects?: Array<{ kind?: string, name?: string, namespace?: string }>
}

export function readManifest (path = MANIFEST): Manifest {
  const docs = parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJSON() as Doc | null).filter((d): d is Doc => d !== null)
  const ds = docs.find((d) => d.kind === 'DaemonSet')
  const pod = ds?.spec?.template?.spec
  if (ds === undefined || pod === undefined) throw new Error(`${path}: no DaemonSet with a pod template`)
  const namespace = ds.metadata?.namespace ?? 'default'
  const account = pod.serviceAccountName ?? 'default'
  const bound = new Set(docs.filter((d) => d.kind === 'ClusterRoleBinding' && d.roleRef?.kind === 'ClusterRole' &&
    (d.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === account && s.namespace === namespace))
    .map((d) => d.roleRef?.name))
  return {
    namespace,
    pod,
    configMaps: new Map(docs.filter((d) => d.kind === 'ConfigMap').map((d) => [d.metadata?.name ?? '', d.data ?? {}])),
    rules: docs.filter((d) => d.kind === 'ClusterRole' && bound.has(d.metadata?.name)).flatMap((d) => d.rules ?? [])
  }
}

/** The main container that runs the agent: the one whose readiness is probed. */
export function agentContainer (pod: PodSpec): Container {
  const [first, ...rest] = pod.containers
  if (first === undefined || rest.length > 0) throw new Error(`expected one container in the DaemonSet, found ${pod.containers.length}`)
  return first
}
