/**
 * The manifest against the Kubernetes API's own schemas (kubernetes-models carries them): every
 * document is a kind the API knows, and validates as the API server would accept it.
 */
import { readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1'
import { DaemonSet } from 'kubernetes-models/apps/v1'
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const manifest = readFileSync(join(root, 'deploy/kubernetes/weft.yaml'), 'utf8')

interface Model { validate: () => void }
type Json = Record<string, unknown>
/** The documents are untyped input: the schema check is what judges them. */
type ModelClass = new (doc: never) => Model
/** The schema of each apiVersion/kind the manifest may hold. */
const MODELS: Record<string, ModelClass> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding
}

const model = (doc: Json): Model => {
  const key = `${String(doc.apiVersion)}/${String(doc.kind)}`
  const make = MODELS[key]
  if (make === undefined) throw new Error(`no schema here for ${key}: add it to MODELS`)
  return new make(doc as never)
}

describe('deploy/kubernetes/weft.yaml against the Kubernetes API schemas', () => {
  const parsed = parseAllDocuments(manifest)
  const docs = parsed.map((d) => d.toJSON() as Json | null).filter((d): d is Json => d !== null)

  it('parses as YAML without errors', () => {
    expect(parsed.flatMap((d) => d.errors.map((e) => e.message))).toEqual([])
    expect(docs.map((d) => d.kind)).toContain('DaemonSet')
  })

  it('holds only documents that validate', () => {
    for (const doc of docs) {
      const name = `${String(doc.kind)} ${String((doc.metadata as Json | undefined)?.name)}`
      expect(() => model(doc).validate(), name).not.toThrow()
    }
  })

  it('is checked for real: a DaemonSet with a mistyped field is refused', () => {
    const ds = structuredClone(docs.find((d) => d.kind === 'DaemonSet')!)
    const pod = ((ds.spec as Json).template as Json).spec as Json
    ;(pod.containers as Json[])[0]!.env = 'IPALLOC_RANGE=10.32.0.0/12'
    expect(() => model(ds).validate()).toThrow(/env/)
  })
})
