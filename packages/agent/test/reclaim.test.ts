/**
 * Reclaim's parts on their own: which peers it takes over (pure), the passes over stand-in components,
 * and the node listing against an API server stand-in (paging, the token, addresses and timestamps,
 * errors that say what to fix).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { asPeerId } from '@weft/ring'
import type { PeerSummary } from '@weft/ring'
import { listNodes, nodeAddress } from '../src/kube.ts'
import { MISSING_LISTINGS, believable, newHistory, observe, peersToReclaim } from '../src/reclaim-choice.ts'
import type { NodeHistory } from '../src/reclaim-choice.ts'
import { startNodeSource } from '../src/node-source.ts'
import { startReclaimer } from '../src/reclaimer.ts'
import { startFakeKube } from './fake-kube.ts'
import type { FakeKube } from './fake-kube.ts'
import { makeTempDir, parseLogLines, removeTempDir, sleep, waitFor } from '@weft/testkit'
import type { LogLine } from '@weft/testkit'

const line = (id: string, nickname: string, reachable: boolean, self = false): PeerSummary =>
  ({ peer: asPeerId(id), nickname, size: 16n, free: 8n, reachable, self })
const me = line('p-me', 'node-a', true, true)
const ids = (lines: PeerSummary[]): string[] => lines.map(l => l.peer)
/** The history after these listings, in order. */
const after = (...listings: string[][]): NodeHistory => listings.reduce((h, l) => observe(h, new Set(l)), newHistory())

describe('the choice', () => {
  it('takes an unreachable peer whose node was listed and then left out of the last listings', () => {
    const owners = [me, line('p-b', 'node-b', false), line('p-c', 'node-c', true)]
    const now = new Set(['node-a', 'node-c'])
    const listings: string[][] = [['node-a', 'node-b', 'node-c'], ...Array.from({ length: MISSING_LISTINGS }, () => [...now])]
    expect(ids(peersToReclaim(owners, now, after(...listings)))).toEqual(['p-b'])
    // One listing without it is not enough: a node list can be briefly wrong.
    expect(peersToReclaim(owners, now, after(...listings.slice(0, -1)))).toEqual([])
  })

  it('forgets a missing streak when the node is listed again', () => {
    const h = after(['node-a', 'node-b'], ['node-a'], ['node-a', 'node-b'], ['node-a'])
    expect(h.missing.get('node-b')).toBe(1)
    expect(peersToReclaim([me, line('p-b', 'node-b', false)], new Set(['node-a']), h)).toEqual([])
  })

  it('leaves a peer whose node still exists, one that is reachable, one never seen as a node, and itself', () => {
    const h = after(['node-a', 'node-b'], ['node-a'], ['node-a'])
    expect(peersToReclaim([me, line('p-b', 'node-b', true)], new Set(['node-a']), h)).toEqual([])
    expect(peersToReclaim([me, line('p-x', 'laptop', false)], new Set(['node-a']), h)).toEqual([])
    expect(peersToReclaim([line('p-me', 'node-a', false, true)], new Set(['node-a']), h)).toEqual([])
    const listed = after(['node-a', 'node-b'])
    expect(peersToReclaim([me, line('p-b', 'node-b', false)], new Set(['node-a', 'node-b']), listed)).toEqual([])
  })

  it('believes no list that leaves out its own node', () => {
    expect(believable([me], new Set())).toBe(false)
    expect(believable([me], new Set(['node-b']))).toBe(false)
    expect(believable([me], new Set(['node-a']))).toBe(true)
    const h = after(['node-a', 'node-b'], ['node-a'], ['node-a'])
    expect(peersToReclaim([me, line('p-b', 'node-b', false)], new Set(['node-c']), h)).toEqual([])
  })

  it('takes the old identity of a listed node whose agent came back with a new one, never a peer without a name', () => {
    const nodes = new Set(['node-a', 'node-b'])
    const h = after([...nodes])
    expect(ids(peersToReclaim([me, line('p-old', 'node-b', false), line('p-new', 'node-b', true)], nodes, h))).toEqual(['p-old'])
    expect(ids(peersToReclaim([me, line('p-old', 'node-a', false)], nodes, h))).toEqual(['p-old'])
    expect(peersToReclaim([me, line('p-1', '', false), line('p-2', '', true)], nodes, h)).toEqual([])
    expect(peersToReclaim([me, line('p-old', 'laptop', false), line('p-new', 'laptop', true)], nodes, h)).toEqual([])
  })
})

describe('the passes, fed by the node source', () => {
  const logs: string[] = []
  const log = pino({ level: 'info' }, { write: (s: string) => { logs.push(s) } })
  const said = (event: string): LogLine[] => parseLogLines(logs).filter(l => l.event === event)
  const kubeNode = (name: string) => ({ name, created: 0, addresses: [] })

  it('the source retries a failed listing, naming the URL once, and hands on only full listings', async () => {
    logs.length = 0
    const answers: Array<string[] | Error> = [new Error('boom'), new Error('boom'), ['node-a'], ['node-a', 'node-b']]
    const got: string[][] = []
    const source = startNodeSource({
      api: 'https://10.96.0.1/',
      list: async () => {
        const a = answers.shift() ?? ['node-a', 'node-b']
        if (a instanceof Error) throw a
        return a.map(kubeNode)
      },
      intervalMs: 2,
      random: () => 0,
      log,
      onNodes: nodes => { got.push(nodes.map(n => n.name)) }
    })
    try {
      await waitFor('an error in the state', () => source.state().error !== null || got.length > 0)
      await waitFor('two listings handed on', () => got.length >= 2)
    } finally {
      source.stop()
    }
    expect(got.slice(0, 2)).toEqual([['node-a'], ['node-a', 'node-b']])
    expect(source.state()).toMatchObject({ api: 'https://10.96.0.1/', error: null })
    expect(said('kube-api-unreachable')).toEqual([expect.objectContaining({ api: 'https://10.96.0.1/' })])
    expect(said('kube-api-back')).toHaveLength(1)
  })

  it('the source aborts a listing in flight when stopped, and says nothing of it', async () => {
    logs.length = 0
    let started = false
    let aborted = false
    const source = startNodeSource({
      api: 'https://10.96.0.1/',
      list: async (signal) => await new Promise((resolve, reject) => {
        started = true
        signal.addEventListener('abort', () => { aborted = true; reject(new Error('aborted')) })
      }),
      intervalMs: 2,
      random: () => 0,
      log,
      onNodes: () => undefined
    })
    try {
      await waitFor('a listing to start', () => started)
    } finally {
      source.stop()
    }
    await waitFor('the listing to be aborted', () => aborted)
    expect(logs).toEqual([])
  })

  it('believes no list without its node, keeps what it saw, and takes a gone peer over once', async () => {
    logs.length = 0
    const removed: string[] = []
    let owners = [me, line('p-b', 'node-b', false)]
    const saved: string[][] = []
    const r = startReclaimer({
      owners: () => owners,
      rmpeer: async (peer) => {
        removed.push(peer)
        owners = [me]
        return 16n
      },
      seen: ['node-old'],
      saveSeen: async (names) => { saved.push([...names]) },
      reclaimed: () => undefined,
      log
    })
    try {
      for (const listing of [['node-x'], ['node-x'], ['node-a', 'node-b'], ['node-a'], ['node-a'], ['node-a']]) {
        r.nodes(new Set(listing))
        await sleep(5)
      }
      await waitFor('the gone peer to be taken over', () => removed.length > 0)
    } finally {
      r.stop()
    }
    expect(removed).toEqual(['p-b'])
    expect(saved[0]).toEqual(['node-a', 'node-b', 'node-old'])
    expect(said('own-node-unlisted')).toHaveLength(1)
    expect(said('peer-reclaimed')).toEqual([expect.objectContaining({ target: 'p-b' })])
  })
})

describe('listNodes', () => {
  let kube: FakeKube | null = null
  let dir: string | null = null
  afterEach(async () => {
    try {
      await kube?.close()
    } finally {
      if (dir !== null) await removeTempDir(dir)
      kube = null
      dir = null
    }
  })

  const secrets = async (token: string | null): Promise<string> => {
    dir = await makeTempDir('kube-sa')
    await mkdir(dir, { recursive: true })
    if (token !== null) await writeFile(join(dir, 'token'), `${token}\n`, { mode: 0o600 })
    return dir
  }

  it('reads every page with the service account token, keeping a path prefix of the API URL', async () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5']
    kube = await startFakeKube('s3cret', nodes, '/k8s')
    const listed = await listNodes({ api: new URL(`${kube.url}/k8s/`), secretsDir: await secrets('s3cret'), timeoutMs: 5_000 })
    expect(listed.map(n => n.name).sort()).toEqual(nodes)
    expect(kube.listings()).toBe(1)
    // One second apart, in the order they were added.
    expect(listed.find(n => n.name === 'n2')!.created - listed.find(n => n.name === 'n1')!.created).toBe(1000)
  })

  it('takes each node\'s InternalIP, else its ExternalIP, IPv6 only when that is all it has', async () => {
    const node = (...addresses: Array<[string, string]>) => ({ name: 'n', created: 0, addresses: addresses.map(([type, address]) => ({ type, address })) })
    expect(nodeAddress(node(['Hostname', 'n'], ['ExternalIP', '203.0.113.5'], ['InternalIP', '10.0.0.5']))).toBe('10.0.0.5')
    expect(nodeAddress(node(['ExternalIP', '203.0.113.5']))).toBe('203.0.113.5')
    expect(nodeAddress(node(['InternalIP', 'fd00::5'], ['ExternalIP', '203.0.113.5']))).toBe('203.0.113.5')
    expect(nodeAddress(node(['InternalIP', 'fd00::5'], ['ExternalIP', '2001:db8::5']))).toBe('fd00::5')
    expect(nodeAddress(node(['Hostname', 'n']))).toBeNull()
    kube = await startFakeKube('s3cret', [])
    kube.add('a', '10.1.0.1')
    kube.add('b', '10.1.0.2')
    const listed = await listNodes({ api: new URL(kube.url), secretsDir: await secrets('s3cret'), timeoutMs: 5_000 })
  })

  it('says the token was refused, without showing it, or that there is none', async () => {
    kube = await startFakeKube('s3cret', ['n1'])
    const wrong = await listNodes({ api: new URL(kube.url), secretsDir: await secrets('wrong'), timeoutMs: 5_000 }).catch((e: unknown) => e as Error)
    expect(wrong).toMatchObject({ name: 'KubeError' })
    expect((wrong as Error).message).toMatch(/HTTP 401 \(the service account token was refused\)/)
    expect((wrong as Error).message).not.toContain('wrong')
    await removeTempDir(dir!)
    const none = await listNodes({ api: new URL(kube.url), secretsDir: await secrets(null), timeoutMs: 5_000 }).catch((e: unknown) => e as Error)
    expect((none as Error).message).toContain(`HTTP 401 (no token: ${join(dir!, 'token')} does not exist)`)
  })

  it('names the API server it cannot reach', async () => {
    // Port 1 (tcpmux): nothing listens there on a test machine.
    const err = await listNodes({ api: new URL('http://127.0.0.1:1'), secretsDir: await secrets(null), timeoutMs: 5_000 }).catch((e: unknown) => e as Error)
    expect(err).toMatchObject({ name: 'KubeError' })
    expect((err as Error).message).toMatch(/GET \/api\/v1\/nodes: .*ECONNREFUSED/)
  })
})
