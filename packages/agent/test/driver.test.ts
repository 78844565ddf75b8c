import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { asPeerId, createPeer, parseUniverse } from '@weft/ring'
import type { CompletionOf, Peer, PersistDelta } from '@weft/ring'
import { Driver } from '../src/driver.ts'
import { createLogger } from '../src/log.ts'
import { Store } from '../src/store.ts'
import type { AttachmentMeta } from '../src/store.ts'
import { makeTempDir, removeTempDir } from '@weft/testkit'

const U = parseUniverse('10.32.0.0/16')
const ME = asPeerId('12D3KooWGRUVh7d5ZH1q8pRmGvWTbqdazDxjW9KD5hrXVf2kPSi4')

let dir: string
let store: Store
beforeEach(async () => {
  dir = await makeTempDir('driver')
  store = await Store.open(dir, { default: U.cidr }, 'weft')
})
afterEach(async () => {
  await store.close()
  await removeTempDir(dir)
})

/** The key and metadata of container `containerId`'s eth0 on network weft. */
const pod = (containerId: string): { key: string, meta: AttachmentMeta } =>
  ({ key: `weft/${containerId}/eth0`, meta: { network: 'weft', containerId, ifname: 'eth0', podName: `pod-${containerId}`, allocatedAt: 0 } })

/** An observer with no ring (so nothing it is asked completes by itself) driven over the real store. */
function observerOverStore (): { peer: Peer<AttachmentMeta>, driver: Driver<AttachmentMeta> } {
  const peer = createPeer<AttachmentMeta>({ id: ME, nickname: 'me', universe: U, init: { kind: 'observer' }, random: () => 0.5 })
  const driver = new Driver(peer, {
    commit: async delta => { await store.pool('default').commit(delta) },
    send: () => undefined,
    event: () => undefined,
    fatal: err => { throw err }
  }, createLogger('silent'))
  return { peer, driver }
}

describe('the Ready loop over a real core and a real store', () => {
  it('answers only after the batch holding the allocation is durable, and groups concurrent requests', async () => {
    const peer = createPeer<AttachmentMeta>({ id: ME, nickname: 'me', universe: U, init: { kind: 'seed', peers: [ME] }, random: () => 0.5 })
    const trace: string[] = []
    const batches: Array<PersistDelta<AttachmentMeta>> = []
    const driver = new Driver(peer, {
      commit: async delta => {
        trace.push(`commit ${batches.length}`)
        await store.pool('default').commit(delta)
        batches.push(delta)
        trace.push(`durable ${batches.length - 1}`)
      },
      send: () => undefined,
      event: () => undefined,
      fatal: err => { throw err }
    }, createLogger('silent'))

    // Requests keep arriving, one per turn of the event loop, while batches are being written.
    const pending: Array<Promise<CompletionOf<'allocate'>>> = []
    for (let i = 0; i < 200; i++) {
      const { key, meta } = pod(`c${i}`)
      pending.push(driver.request('allocate', id => peer.allocate(id, key, meta), 10_000, 'allocate').then(c => {
        trace.push(`answer weft/c${i}/eth0`)
        return c
      }))
      await new Promise(resolve => setImmediate(resolve))
    }
    const answers = await Promise.all(pending)
    await driver.idle()

    expect(answers.every(c => c.ok)).toBe(true)
    const offsets = answers.map(c => (c.ok ? c.offset : undefined))
    expect(new Set(offsets).size).toBe(200)
    // Group commit: requests that arrived during a write shared the next batch.
    expect(batches.length).toBeGreaterThan(1)
    expect(batches.length).toBeLessThan(200)
    expect(batches.some(b => b.putAllocations.length > 1)).toBe(true)
    // Each answer comes after the batch that put its allocation was durable.
    for (let i = 0; i < 200; i++) {
      const key = `weft/c${i}/eth0`
      const batch = batches.findIndex(b => b.putAllocations.some(a => a.key === key))
      expect(batch).toBeGreaterThanOrEqual(0)
      expect(trace.indexOf(`durable ${batch}`)).toBeLessThan(trace.indexOf(`answer ${key}`))
    }
    expect(store.pool('default').allocations.size).toBe(200)
    // Each record holds the metadata its own request carried.
    expect([...store.pool('default').allocations.values()].every(a => a.payload.podName === `pod-${a.payload.containerId}` && a.key === pod(a.payload.containerId).key)).toBe(true)
  })

  it('a batch written before commit returns (null: a journalled one) is acted on at once, and a commit that throws stops the loop', async () => {
    const peer = createPeer<AttachmentMeta>({ id: ME, nickname: 'me', universe: U, init: { kind: 'seed', peers: [ME] }, random: () => 0.5 })
    const trace: string[] = []
    let broken = false
    const failures: Error[] = []
    const driver = new Driver(peer, {
      // As the agent does: the store answers a journalled batch with its durability itself.
      commit: delta => {
        if (broken) throw new Error('journal gone')
        const written = store.pool('default').commit(delta)
        if (typeof written === 'string') {
          trace.push(`${written} ${delta.putAllocations.map(a => a.key).join()}`)
          return null
        }
        return written.then(d => { trace.push(`${d} ${delta.putAllocations.map(a => a.key).join()}`) })
      },
      send: () => undefined,
      event: () => undefined,
      fatal: err => { failures.push(err) }
    }, createLogger('silent'))
    for (const c of ['a', 'b', 'c']) {
      const done = await driver.request('allocate', id => peer.allocate(id, pod(c).key, pod(c).meta), 5_000, 'allocate')
      expect(done.ok).toBe(true)
      trace.push(`answer ${pod(c).key}`)
    }
    // The first batch holds the ring (synced, through its promise); the next two were journalled.
    expect(trace).toEqual(['synced weft/a/eth0', 'answer weft/a/eth0', 'written weft/b/eth0', 'answer weft/b/eth0', 'written weft/c/eth0', 'answer weft/c/eth0'])
    expect(store.pool('default').allocations.size).toBe(3)
    broken = true
    const after = await driver.request('allocate', id => peer.allocate(id, pod('d').key, pod('d').meta), 5_000, 'allocate')
    expect(after).toMatchObject({ ok: false, error: { retryable: true, message: 'the agent stopped: journal gone' } })
    expect(failures.map(e => e.message)).toEqual(['journal gone'])
  })

  it('a request the core does not answer in time completes retryable', async () => {
    const { peer, driver } = observerOverStore()
    const c = await driver.request('allocate', id => peer.allocate(id, pod('c').key, pod('c').meta), 50, 'allocate')
    expect(c).toMatchObject({ ok: false, error: { code: 'not-ready', retryable: true } })
    expect(driver.waiting).toBe(0)
  })

  it('a request that times out carries the reason it waited for, when there is one', async () => {
    const { peer, driver } = observerOverStore()
    const c = await driver.request('allocate', id => peer.allocate(id, pod('c').key, pod('c').meta), 50, 'allocate', () => ({ code: 'not-ready', message: 'awaiting consensus (quorum: 2, known: 1)', retryable: true }))
    expect(c).toMatchObject({ ok: false, error: { retryable: true, message: 'awaiting consensus (quorum: 2, known: 1)' } })
  })

  it('after the loop failed (the agent is stopping), requests are answered retryable', async () => {
    const peer = createPeer<AttachmentMeta>({ id: ME, nickname: 'me', universe: U, init: { kind: 'seed', peers: [ME] }, random: () => 0.5 })
    const failures: Error[] = []
    const driver = new Driver(peer, {
      commit: async () => { throw new Error('disk gone') },
      send: () => undefined,
      event: () => undefined,
      fatal: err => { failures.push(err) }
    }, createLogger('silent'))
    const first = await driver.request('allocate', id => peer.allocate(id, pod('a').key, pod('a').meta), 5_000, 'allocate')
    const later = await driver.request('allocate', id => peer.allocate(id, pod('b').key, pod('b').meta), 5_000, 'allocate')
    expect(failures.map(e => e.message)).toEqual(['disk gone'])
    for (const c of [first, later]) expect(c).toMatchObject({ ok: false, error: { retryable: true, message: 'the agent stopped: disk gone' } })
  })
})
