import { afterEach, describe, expect, it } from 'vitest'
import { asPeerId, createPeer, parseUniverse } from '@weft/ring'
import { Driver } from '../src/driver.ts'
import { createLogger } from '../src/log.ts'
import { Store } from '../src/store.ts'
import type { AttachmentMeta } from '../src/store.ts'
import { Ticker, owedTicks } from '../src/ticker.ts'
import { makeTempDir, removeTempDir, sleep, waitFor } from '@weft/testkit'

const TICK_MS = 5
const IDLE_AFTER_MS = 200
const WAKE_MS = 100

let stops: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const stop of stops.reverse()) await stop()
  stops = []
})

describe('owedTicks', () => {
  it('owes a fast clock\'s ticks, at most one slow wake-up\'s worth', () => {
    expect(owedTicks(0, 100, 1_000)).toBe(0)
    expect(owedTicks(99, 100, 1_000)).toBe(0)
    expect(owedTicks(350, 100, 1_000)).toBe(3)
    expect(owedTicks(1_000, 100, 1_000)).toBe(10)
    // A stall owes no more than a wake-up: the cores' timeouts do not all fire at once after it.
    expect(owedTicks(60_000, 100, 1_000)).toBe(10)
    // A clock slower than a wake-up ticks once per wake-up, as it did fast.
    expect(owedTicks(5_000, 2_000, 2_000)).toBe(1)
    expect(owedTicks(-5, 100, 1_000)).toBe(0)
  })
})

/** A ticker over a core that is busy (leaves output) while `busy` says so, recording every call's tick count. */
function recorded (busy: () => boolean): { ticker: Ticker, calls: number[], inside: { count: number | null } } {
  const calls: number[] = []
  const inside = { count: null as number | null }
  const ticker = new Ticker(TICK_MS, IDLE_AFTER_MS, WAKE_MS)
  ticker.start({
    tick: count => { calls.push(count); inside.count = count; return busy() },
    waiting: () => 0,
    now: () => performance.now()
  })
  stops.push(async () => { ticker.stop() })
  return { ticker, calls, inside }
}

describe('the idle clock', () => {
  it('ticks one at a time while the core has output, and slows down to batches once it has none', async () => {
    let busy = true
    const { calls } = recorded(() => busy)
    await waitFor('some fast ticks', () => calls.length >= 20, 200, 10)
    await sleep(IDLE_AFTER_MS * 2)
    // Output at every tick keeps it fast.
    expect(calls.every(c => c === 1)).toBe(true)
    busy = false
    await waitFor('a slow wake-up running the ticks it owes', () => calls.some(c => c > 1), 300, 10)
    const at = calls.length
    await waitFor('two more slow wake-ups', () => calls.length >= at + 2, 300, 10)
    // Slow: every wake-up runs the ticks a fast clock would have (a wake-up's worth).
    expect(calls.slice(at).every(c => c > 1 && c <= WAKE_MS / TICK_MS)).toBe(true)
  })

  it('runs the ticks it owes before an input, then ticks fast again once an input leaves output', async () => {
    const { ticker, calls, inside } = recorded(() => false)
    await waitFor('a slow wake-up', () => calls.some(c => c > 1), 300, 10)
    // Some ticks' time after a slow wake-up, with no other wake-up since (a loaded machine may run one meanwhile: again).
    await waitFor('a pause between wake-ups', async () => {
      const at = calls.length
      await sleep(TICK_MS * 4)
      if (calls.length !== at) return false
      inside.count = null
      ticker.beforeInput()
      return true
    }, 50, 0)
    // The ticks owed ran inside beforeInput, before the input reaches the core.
    expect(inside.count).not.toBeNull()
    expect(inside.count).toBeGreaterThanOrEqual(1)
    ticker.afterInput(true)
    const at = calls.length
    await waitFor('fast ticks after the input', () => calls.length >= at + 3, 300, 10)
    expect(calls.slice(at, at + 3)).toEqual([1, 1, 1])
  })

  it('stays slow through inputs that change nothing', async () => {
    const { ticker, calls } = recorded(() => false)
    await waitFor('a slow wake-up', () => calls.some(c => c > 1), 300, 10)
    const at = calls.length
    for (let i = 0; i < 30; i++) {
      ticker.beforeInput()
      ticker.afterInput(false)
      await sleep(WAKE_MS / 10)
    }
    // Each input ran the ticks owed by then, and no fast ticking followed: far fewer calls than ticks.
    const since = calls.slice(at)
    expect(since.reduce((a, b) => a + b, 0)).toBeGreaterThan(since.length)
  })

  it('stays fast while inputs with output keep coming, and stops ticking when stopped', async () => {
    const { ticker, calls } = recorded(() => false)
    for (let i = 0; i < 30; i++) {
      ticker.beforeInput()
      ticker.afterInput(true)
      await sleep(IDLE_AFTER_MS / 4)
    }
    expect(calls.length).toBeGreaterThan(10)
    expect(calls.every(c => c === 1)).toBe(true)
    ticker.stop()
    const at = calls.length
    await sleep(WAKE_MS * 2)
    expect(calls.length).toBe(at)
  })
})

describe('the idle clock over a real core and store', () => {
  it('slows down while the core is quiet, and an allocation made then is answered', async () => {
    const dir = await makeTempDir('ticker')
    const U = parseUniverse('10.32.0.0/16')
    const store = await Store.open(dir, { default: U.cidr }, 'weft')
    stops.push(async () => { await store.close(); await removeTempDir(dir) })
    const me = asPeerId('12D3KooWGRUVh7d5ZH1q8pRmGvWTbqdazDxjW9KD5hrXVf2kPSi4')
    const peer = createPeer<AttachmentMeta>({ id: me, nickname: 'me', universe: U, init: { kind: 'seed', peers: [me] }, random: () => 0.5 })
    const ticker = new Ticker(TICK_MS, IDLE_AFTER_MS, WAKE_MS)
    const driver = new Driver(peer, {
      commit: async delta => { await store.pool('default').commit(delta) },
      send: () => undefined,
      event: () => undefined,
      fatal: err => { throw err },
      clock: ticker
    }, createLogger('silent'))
    stops.push(async () => { await driver.idle() })
    const calls: number[] = []
    ticker.start({
      tick: count => {
        calls.push(count)
        driver.input(() => { for (let i = 0; i < count; i++) peer.tick() })
        return peer.hasReady()
      },
      waiting: () => driver.waiting,
      now: () => performance.now()
    })
    stops.push(async () => { ticker.stop() })
    // A seed's own ring, written once; then nothing: a quiet core's ticks leave no output.
    await waitFor('the clock to slow down', () => calls.some(c => c > 1), 300, 10)
    const meta: AttachmentMeta = { network: 'weft', containerId: 'c1', ifname: 'eth0', podName: 'p', allocatedAt: 0 }
    const c = await driver.request('allocate', id => peer.allocate(id, 'weft/c1/eth0', meta), 5_000, 'allocate')
    expect(c.ok).toBe(true)
    expect(store.pool('default').allocations.has('weft/c1/eth0')).toBe(true)
  })
})
