/** How a peer is tuned: its timeouts, and the bugs a test may plant. */

/** All in ticks. */
export interface Timeouts {
  /** How long an allocate or prime waits before it fails retryable. */
  readonly request: number
  /** How long to wait for a donor's answer. */
  readonly ask: number
  /** How long one Paxos ballot may take before a retry: longer than `grace`, which a ballot may wait out before its accept phase. */
  readonly ballot: number
  /** consensus=N: how long the accept waits for every promise before settling for a quorum. */
  readonly grace: number
  /** consensus=N: how long to wait for all N to be reachable before a quorum proposes. */
  readonly initWait: number
  /** Anti-entropy: a peer that changed its ring asks for digests this often, until every reachable peer holds it. */
  readonly gossip: number
  /** A changed free count goes out as a hint at most this often. */
  readonly freeReport: number
  /** How long rmpeer may take before it fails with no-quorum. */
  readonly takeover: number
  /** After every donor was tried: wait this long before trying them again. */
  readonly backoff: number
  /** kubernetes init: how long the initialiser waits for the agents of younger listed nodes. */
  readonly nodeWait: number
  /** After a question to even out shares: wait this long before the next one. */
  readonly rebalance: number
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  request: 30, ask: 4, ballot: 12, grace: 6, initWait: 30, gossip: 8, freeReport: 4, takeover: 60, backoff: 4, nodeWait: 50, rebalance: 8
}

/** Deliberate bugs, for tests that prove the simulator catches them. Never set outside tests. */
export interface Faults {
  /** Weave's merge: on equal versions the local entry wins, so rings need not converge. */
  readonly mineWinsTies?: boolean
  /** A donor keeps allocating in the range it just gave away. */
  readonly donorKeeps?: boolean
  /** rmpeer removes the peer at once, with no vote. */
  readonly takeoverWithoutConsensus?: boolean
  /** The heir uses inherited ranges at once, without waiting for every member's ack. */
  readonly heirSkipsSettle?: boolean
  /** The heir adopts and completes (compacts) a removal as soon as it is decided, before every peer has acknowledged it. */
  readonly compactEarly?: boolean
  /** The floor is raised to the level at once, without waiting for every known peer's stamp and ring. */
  readonly floorUnchecked?: boolean
  /** A peer that finds its own record below the floor stamps it afresh, whatever it holds. */
  readonly ignoreOwnFloor?: boolean
  /** kubernetes init: the initialiser does not wait for rivals and near-simultaneous nodes. */
  readonly initialiserSkipsWait?: boolean
  /** weft before even shares: no asks to even out, and a gift is the upper half of the largest free run. */
  readonly noRebalance?: boolean
  /** Paxos: the ballot timeout never grows, so replies slower than it never make a quorum. */
  readonly fixedBallotTimeout?: boolean
  /** takeover: an acceptor votes on removing a peer it can still reach (no `peer-alive` refusal). */
  readonly ignorePeerAlive?: boolean
  /** takeover: the electorate is the peers this one reaches (and itself), not every known peer. */
  readonly reachableElectorate?: boolean
  /** Paxos: a quorum is half the electorate, not a strict majority. */
  readonly halfQuorum?: boolean
}
