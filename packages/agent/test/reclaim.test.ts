/**
 * Reclaim's two parts on their own: which peers it takes over (pure), and the node listing against
 * an API server stand-in (paging, the token, errors that say what to fix).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { PeerLine } from '@weft/protocol'
import { listNodeNames } from '../src/kube.ts'
import { peersToReclaim } from '../src/reclaim.ts'
import { startFakeKube } from './fake-kube.ts'
import type { FakeKube } from './fake-kube.ts'
import { makeTempDir, removeTempDir } from './harness.ts'

const line = (id: string, nickname: string, reachable: boolean, local = false): PeerLine =>
  ({ id, nickname, addresses: '16', percentage: 25, free: '8', reachable, local })

describe('peersToReclaim', () => {
  const me = line('p-me', 'node-a', true, true)
  const ids = (lines: PeerLine[]): string[] => lines.map(l => l.id)

  it('takes an unreachable peer whose node was listed once and is gone now', () => {
    const owners = [me, line('p-b', 'node-b', false), line('p-c', 'node-c', true)]
    expect(ids(peersToReclaim(owners, new Set(['node-a', 'node-c']), new Set(['node-a', 'node-b', 'node-c'])))).toEqual(['p-b'])
  })

  it('leaves a peer whose node still exists, one that is reachable, one never seen as a node, and itself', () => {
    const seen = new Set(['node-a', 'node-b', 'node-c'])
    expect(peersToReclaim([me, line('p-b', 'node-b', false)], seen, seen)).toEqual([])
    expect(peersToReclaim([me, line('p-b', 'node-b', true)], new Set(['node-a']), seen)).toEqual([])
    expect(peersToReclaim([me, line('p-x', 'laptop', false)], new Set(['node-a']), seen)).toEqual([])
    expect(peersToReclaim([line('p-me', 'node-a', false, true)], new Set(['node-a']), seen)).toEqual([])
  })

  it('believes no list that leaves out its own node', () => {
    const seen = new Set(['node-a', 'node-b'])
    expect(peersToReclaim([me, line('p-b', 'node-b', false)], new Set(), seen)).toEqual([])
    expect(peersToReclaim([me, line('p-b', 'node-b', false), line('p-b2', 'node-b', true)], new Set(['node-c']), seen)).toEqual([])
  })

  it('takes the old identity of a node whose agent came back with a new one', () => {
    const owners = [me, line('p-old', 'node-b', false), line('p-new', 'node-b', true)]
    const nodes = new Set(['node-a', 'node-b'])
    expect(ids(peersToReclaim(owners, nodes, nodes))).toEqual(['p-old'])
    expect(ids(peersToReclaim([line('p-old', 'node-a', false), me], nodes, nodes))).toEqual(['p-old'])
  })
})

describe('listNodeNames', () => {
  let kube: FakeKube | null = null
  let dir: string | null = null
  afterEach(async () => {
    await kube?.close()
    if (dir !== null) await removeTempDir(dir)
    kube = null
    dir = null
  })

  const secrets = async (token: string | null): Promise<string> => {
    dir = await makeTempDir('kube-sa')
    await mkdir(dir, { recursive: true })
    if (token !== null) await writeFile(join(dir, 'token'), `${token}\n`, { mode: 0o600 })
    return dir
  }

  it('reads every page with the service account token', async () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5']
    kube = await startFakeKube('s3cret', nodes)
    const names = await listNodeNames({ api: new URL(kube.url), secretsDir: await secrets('s3cret'), timeoutMs: 5_000 })
    expect([...names].sort()).toEqual(nodes)
    expect(kube.listings()).toBe(1)
  })

  it('says the token was refused, without showing it', async () => {
    kube = await startFakeKube('s3cret', ['n1'])
    const err = await listNodeNames({ api: new URL(kube.url), secretsDir: await secrets('wrong'), timeoutMs: 5_000 }).catch((e: unknown) => e as Error)
    expect(err).toMatchObject({ name: 'KubeError' })
    expect((err as Error).message).toMatch(/HTTP 401 \(the service account token was refused\)/)
    expect((err as Error).message).not.toContain('wrong')
  })

  it('names the API server it cannot reach', async () => {
    kube = await startFakeKube('t', [])
    const url = kube.url
    await kube.close()
    kube = null
    const err = await listNodeNames({ api: new URL(url), secretsDir: await secrets(null), timeoutMs: 5_000 }).catch((e: unknown) => e as Error)
    expect(err).toMatchObject({ name: 'KubeError' })
    expect((err as Error).message).toMatch(/GET \/api\/v1\/nodes: .*ECONNREFUSED/)
  })
})
