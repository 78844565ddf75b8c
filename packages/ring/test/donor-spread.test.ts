/**
 * Joiners after a split that left them out spread their questions over the donors. 50 peers, a split
 * among 36 (as a loaded start of 50 agents decided), 14 that join with nothing, every packet late by
 * 1 to 5 ticks. Peers that see one ring see one largest donor: when all asked it, it granted one and
 * denied the rest, and they moved on together to the next (244-375 denies in this run for 115-132
 * grants, and the shares settled in 173-208 ticks, against 52-64 denies and 65-90 ticks spread).
 */
import { describe, expect, it } from 'vitest'
import { lateJoiners } from './late-joiners.ts'

const PEERS = 50
const SEEDED = 36
const MAX_TICKS = 2_000

describe('joiners after a split', () => {
  it('ask different donors, so few questions are denied, and the shares become even', () => {
    const { universe, net, agreed, sizes, runQuiet } = lateJoiners(PEERS, SEEDED, 5, 8)
    const fair = universe.size / BigInt(PEERS)
    const even = (): boolean => sizes().every(x => x * 10n >= fair * 9n && x * 10n <= fair * 11n)
    expect(runQuiet(() => agreed() && even(), 50, MAX_TICKS)).toBeLessThan(MAX_TICKS)
    const grants = net.kinds.get('space-grant') ?? 0
    expect(grants).toBeGreaterThanOrEqual(PEERS - SEEDED)
    expect(net.kinds.get('space-deny') ?? 0).toBeLessThan(grants)
  })
})
