/**
 * @packageDocumentation
 * The pure core of weft: address math, the ring CRDT, space, Paxos and the peer state machine.
 * No I/O, no timers, no clock, no randomness of its own. See README.md for the design.
 * This is what a shell (the agent, the route planner) uses: the peer, its messages and persisted
 * state, addresses. The parts inside it (Ring, Space, IntervalSet) are in internal.ts, for tests.
 */
export * from './types.ts'
export * from './errors.ts'
export { type Universe, parseUniverse, parseAddress, formatAddress, canonicalAddress, offsetOf, addressAt, isReserved, reservedOffsets, reservedRanges, rangeToCidrs, formatRange } from './address.ts'
export { type Span, spansOf } from './spans.ts'
export { rangesByOwner } from './ranges-by-owner.ts'
export * from './codec.ts'
export * from './msgpack-write.ts'
export { createPeer, type Peer, type PeerConfig } from './peer.ts'
export { type PeerStatus, type PeerSummary, type StatusCode, STATUS_CODES } from './status.ts'
export { type Timeouts, DEFAULT_TIMEOUTS } from './config.ts'
