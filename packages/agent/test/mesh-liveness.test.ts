import { describe, expect, it } from 'vitest'
import { MAX_SILENCE_MS, PING_TIMEOUT_MS, SLOW_FACTOR, SLOW_HALF_LIFE_MS, answered, newPace, silenceLimit, slowest, step } from '../src/mesh-liveness.ts'
import type { Watch } from '../src/mesh-liveness.ts'

const INTERVAL = 1_000
const fresh = (): Watch => ({ heard: true, quietMs: 0, pinging: false })

/** Rounds `sinceMs` apart until the first drop; the rounds it took, or null within `max`. */
function roundsToDrop (w: Watch, dialler: boolean, sinceMs: number, max: number): number | null {
  for (let i = 1; i <= max; i++) if (step(w, dialler, sinceMs, INTERVAL) === 'drop') return i
  return null
}

describe('liveness rounds', () => {
  it('has only the dialler ping, one ping at a time', () => {
    const dialler = fresh()
    expect(step(dialler, true, INTERVAL, INTERVAL)).toBe('ping')
    dialler.pinging = true
    expect(step(dialler, true, INTERVAL, INTERVAL)).toBe('wait')
    const answerer = fresh()
    for (let i = 0; i < 20; i++) {
      answerer.heard = true
      expect(step(answerer, false, INTERVAL, INTERVAL)).toBe('wait')
    }
  })

  it('keeps a connection that is heard from, and drops one silent past its limit, the answerer later than the dialler', () => {
    const heard = fresh()
    for (let i = 0; i < 100; i++) {
      heard.heard = i % 3 === 0
      expect(step(heard, false, INTERVAL, INTERVAL)).not.toBe('drop')
    }
    // The first round after the last frame only resets the count.
    expect(roundsToDrop(fresh(), true, INTERVAL, 100)).toBe(1 + PING_TIMEOUT_MS / INTERVAL)
    expect(roundsToDrop(fresh(), false, INTERVAL, 100)).toBe(1 + silenceLimit(false, INTERVAL) / INTERVAL)
    expect(silenceLimit(false, INTERVAL)).toBeGreaterThan(silenceLimit(true, INTERVAL))
  })

  it('counts a late round as one interval: a starved agent does not drop what it has not had time to read', () => {
    const w = fresh()
    // The agent kept from running for a minute between rounds: one interval of silence, not sixty.
    expect(step(w, true, 60_000, INTERVAL)).toBe('ping')
    expect(step(w, true, 60_000, INTERVAL)).toBe('ping')
    expect(w.quietMs).toBe(INTERVAL)
    w.heard = true
    expect(step(w, true, 60_000, INTERVAL)).toBe('ping')
    expect(w.quietMs).toBe(0)
  })

  it('waits longer for a connection while pings are answered slowly, never past MAX_SILENCE_MS, and as before once they are quick again', () => {
    const pace = newPace()
    answered(pace, 5, 0)
    expect(silenceLimit(true, INTERVAL, slowest(pace, 0))).toBe(PING_TIMEOUT_MS)
    // A peer starved for seconds answered after 6 s: every connection gets SLOW_FACTOR times that.
    answered(pace, 6_000, 1_000)
    expect(silenceLimit(true, INTERVAL, slowest(pace, 1_000))).toBe(SLOW_FACTOR * 6_000)
    expect(roundsToDrop(fresh(), true, INTERVAL, 100)).toBe(1 + PING_TIMEOUT_MS / INTERVAL)
    const w = fresh()
    let rounds = 0
    while (step(w, true, INTERVAL, INTERVAL, slowest(pace, 1_000)) !== 'drop' && rounds < 100) rounds++
    expect(rounds).toBe(SLOW_FACTOR * 6_000 / INTERVAL)
    // However slow, a silent peer is dropped within MAX_SILENCE_MS (and the answerer's two intervals).
    answered(pace, 60_000, 2_000)
    expect(silenceLimit(true, INTERVAL, slowest(pace, 2_000))).toBe(MAX_SILENCE_MS)
    expect(silenceLimit(false, INTERVAL, slowest(pace, 2_000))).toBe(MAX_SILENCE_MS + 2 * INTERVAL)
    // The slow answer fades: half its weight each SLOW_HALF_LIFE_MS, a quick answer does not reset it at once.
    answered(pace, 5, 2_000 + SLOW_HALF_LIFE_MS)
    expect(slowest(pace, 2_000 + SLOW_HALF_LIFE_MS)).toBeCloseTo(30_000)
    expect(silenceLimit(true, INTERVAL, slowest(pace, 2_000 + 10 * SLOW_HALF_LIFE_MS))).toBe(PING_TIMEOUT_MS)
  })
})
