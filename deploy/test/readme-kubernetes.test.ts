/**
 * The README's Kubernetes section stays true to the manifest: the command it gives to override
 * IPALLOC_RANGE at apply time changes that value, and nothing else, in what it would apply.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const manifest = join(root, 'deploy/kubernetes/weft.yaml')

type Json = Record<string, unknown>
const docs = (text: string): Json[] => parseAllDocuments(text).map((d) => d.toJSON() as Json)
const agentEnv = (all: Json[]): Array<{ name: string, value?: string }> => {
  const ds = all.find((d) => d.kind === 'DaemonSet') as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string, value?: string }> }> } } } }
  return ds.spec.template.spec.containers[0]!.env
}

describe('the README\'s Kubernetes section', () => {
  it('overrides IPALLOC_RANGE at apply time with a command that changes that value alone', () => {
    const line = readme.split('\n').map((l) => l.trim()).find((l) => l.startsWith('sed ') && l.includes('deploy/kubernetes/weft.yaml | kubectl apply -f -'))
    expect(line, 'the README gives a sed ... | kubectl apply -f - line').toBeDefined()
    const command = line!.replace(/\s*\|\s*kubectl apply -f -$/, '')
    const applied = docs(execFileSync('bash', ['-c', command], { cwd: root, encoding: 'utf8' }))
    const shipped = docs(readFileSync(manifest, 'utf8'))
    const range = (all: Json[]): string | undefined => agentEnv(all).find((e) => e.name === 'IPALLOC_RANGE')?.value
    expect(range(shipped)).toBe('10.32.0.0/12')
    expect(range(applied)).toBe('10.200.0.0/16')
    const others = (all: Json[]): unknown[] => agentEnv(all).filter((e) => e.name !== 'IPALLOC_RANGE')
    expect(others(applied)).toEqual(others(shipped))
    expect(applied.length).toBe(shipped.length)
  })

  it('creates the swarm key Secret the DaemonSet mounts', () => {
    const ds = docs(readFileSync(manifest, 'utf8')).find((d) => d.kind === 'DaemonSet') as { spec: { template: { spec: { volumes: Array<{ secret?: { secretName: string } }> } } } }
    const secret = ds.spec.template.spec.volumes.find((v) => v.secret !== undefined)?.secret?.secretName
    expect(readme).toContain(`kubectl -n kube-system create secret generic ${secret ?? '?'} --from-file=swarm.key`)
  })
})
