/**
 * A round repeats only for the peers still behind: one peer whose digests never arrive (starved, its
 * answers late or lost) is asked directly, each repeat twice as late as the one before, while the
 * others, synced with each other, hear nothing of it. When every repeat went to every peer every
 * gossip period, one starved agent of 50 kept all 50 asking all 49, and the load that made it late
 * grew with every ask.
 */
import { describe, expect, it } from 'vitest'
import { type Message, type PeerId, asPeerId } from '../src/types.ts'
import { DEFAULT_TIMEOUTS } from '../src/config.ts'
import { MAX_TICKS, seededMesh } from './seeded-mesh.ts'

const PEERS = 9
/** How long the slow peer's digests are lost: 50 gossip periods. */
const CUT = 50 * DEFAULT_TIMEOUTS.gossip

const isAsk = (msg: Message): boolean => msg.type === 'digest' && msg.reply

describe('repeats of a digest round', () => {
  it('go only to the peer still behind, ever further apart, and end once its answer comes', () => {
    let cut = true
    const asked = new Map<PeerId, number>()
    let asksOfOthers = 0
    const slow = asPeerId(`p${PEERS - 1}`)
    const drop = (from: PeerId, to: PeerId, msg: Message): boolean => {
      if (cut && isAsk(msg)) {
        if (to === slow) asked.set(from, (asked.get(from) ?? 0) + 1)
        else if (from !== slow) asksOfOthers++
      }
      return cut && from === slow && msg.type === 'digest'
    }
    const { peers, net, runQuiet, oneRing } = seededMesh(PEERS, drop)
    for (const p of peers.values()) p.prime(1)
    net.tick(CUT)
    // Each of the others asked the slow peer: the split's round and its repeats, doubling from one
    // gossip period to eight (1 + 1, 2, 4, 8, 8, ...: 10 each in 50 periods; every period, it was 51).
    expect(asked.size).toBe(PEERS - 1)
    for (const n of asked.values()) {
      expect(n).toBeGreaterThanOrEqual(2)
      expect(n).toBeLessThanOrEqual(12)
    }
    // Among themselves the others were synced after the split's rounds: the repeats did not reach
    // them (112 asks among them; with every repeat to everyone, 2,856).
    expect(asksOfOthers).toBeLessThan(2 * PEERS * PEERS)
    net.kinds.clear()
    cut = false
    expect(runQuiet()).toBeLessThan(MAX_TICKS)
    expect(oneRing()).toBe(true)
    // Heard again, the slow peer's answers end every repeat; nothing went to everyone.
    expect(net.kinds.get('digest*') ?? 0).toBe(0)
  })
})
