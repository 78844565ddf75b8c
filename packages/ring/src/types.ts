/**
 * The vocabulary of the ring core. Everything here is plain data: it can be encoded, persisted,
 * sent and compared. Offsets are bigint everywhere so that IPv4 and IPv6 share one representation.
 */

/** A peer's stable id: its libp2p PeerId string. */
export type PeerId = string & { readonly __brand: 'PeerId' }
export const asPeerId = (s: string): PeerId => s as PeerId

/** An address as an offset from the first address of the universe. */
export type Offset = bigint

/** A half-open range of offsets, [start, end). */
export interface Range {
  readonly start: Offset
  readonly end: Offset
}

/** A CIDR string as written by humans, e.g. "10.32.0.0/12" or "fd00::/64". */
export type Cidr = string & { readonly __brand: 'Cidr' }

/**
 * One ring entry: the owner of [token, next token), the last one up to the end of the universe (the
 * first token is 0). Entries are the maximal runs of one (owner, version): no two adjacent entries
 * have both equal.
 */
export interface Entry {
  readonly token: Offset
  readonly owner: PeerId
  /**
   * The write that made this run: a Lamport clock, above every version its writer had seen (see
   * "The ring" in the README). The higher version wins an address; equal ones, the larger owner id.
   */
  readonly version: number
}

/** A run of addresses with one owner and version, its range explicit: what a delta carries. */
export interface Run {
  readonly range: Range
  readonly owner: PeerId
  readonly version: number
}

/**
 * A peer's last report of its free addresses: a hint for choosing donors, not ownership. Hints live
 * beside the ring, outside its versions: a report changes no entry, and no hint can decide a merge.
 */
export interface Hint {
  readonly peer: PeerId
  readonly free: bigint
}

/**
 * A ring state in brief: equal digests mean equal states (a 64-bit hash). `weight` sums, over the
 * addresses, the version holding each, and the versions and records of members and removals; a merge
 * or a write never lowers it, so of two different states the lighter one is missing something, and
 * that side asks for the whole ring.
 */
export interface Digest {
  readonly hash: bigint
  readonly weight: bigint
}

/**
 * Part of a ring: some runs (not necessarily covering the universe), member records and removals.
 * Merged into a ring, each run is joined address by address, so a part never says anything about
 * addresses outside its runs.
 */
export interface RingPart {
  readonly universe: Cidr
  /** Only with the first split: then the runs cover the universe. */
  readonly seeds: readonly PeerId[]
  /** Sorted, disjoint, none empty. */
  readonly runs: readonly Run[]
  readonly members: readonly Member[]
  readonly removed: readonly Removal[]
  /** The sender's floor and level (see RingState): a part always carries them. */
  readonly floor: number
  readonly level: number
}

/**
 * What changed in a ring: the runs, member records and removals one batch wrote. `seeds` names the
 * seed list it belongs to by fingerprint (ring-digest.ts); the part carries the list itself only
 * with the first split.
 */
export interface RingDelta {
  readonly seeds: number
  readonly part: RingPart
  /**
   * With the delta that raises its sender's floor: the digest of the ring the floor was raised on,
   * which every known peer held then. A receiver holding exactly that ring raises the same floor on
   * it; any other pulls the whole ring (README, "Compaction").
   */
  readonly raisedFrom?: Digest
}

/** A peer's own record: only that peer changes it, and each change raises its version. */
export interface Member {
  readonly peer: PeerId
  readonly nickname: string
  readonly version: number
  /**
   * The member's node address (IPv4 or IPv6, canonical form), where other nodes route its pods' ranges.
   * Absent when the member announces none, as in records written before addresses existed.
   */
  readonly address?: string
  /** Removals this member has merged (sorted). Once every live member lists a removal, the heir may use the ranges. */
  readonly acks: readonly PeerId[]
  /**
   * The ring's level when the member last stamped its record: it restamps whenever it sees a higher
   * level. A record below the ring's floor is of a peer that was no known member when the floor was
   * raised (README, "Compaction").
   */
  readonly since: number
  /**
   * The level when the record was made (its first `since`): a peer that joined after a floor was
   * raised, through a peer behind on floors, was born at or above it; a removed peer was not.
   */
  readonly born: number
}

/** A decided takeover: `heir` took over every range of `peer`, which will never act again. */
export interface Removal {
  readonly peer: PeerId
  readonly heir: PeerId
  /**
   * Set by the heir once it adopted the ranges (every known peer had acknowledged the removal and
   * held the heir's ring): the completion's stamp, above every version and level in the heir's ring.
   * The acks are no longer needed, nor the dead peer's record. The removal stays until the floor
   * reaches this stamp (README, "Compaction").
   */
  readonly done?: number
}

/** The ring as data: what is persisted and gossiped. */
export interface RingState {
  readonly universe: Cidr
  /** The peers the initial split was made for; empty until the ring is initialised. */
  readonly seeds: readonly PeerId[]
  /** Sorted by token, the first at 0, normalized (see Entry). Empty until the ring is initialised. */
  readonly entries: readonly Entry[]
  /** Sorted by peer id. */
  readonly members: readonly Member[]
  /** Sorted by peer id; grow-only until the floor passes a completed one. */
  readonly removed: readonly Removal[]
  /**
   * Completed removals stamped at or below it are gone, and so are records stamped below it of peers
   * that own nothing. Raised only once every known peer's record is stamped at or above it and holds
   * the raiser's ring; merged by max.
   */
  readonly floor: number
  /** The highest completion stamp this ring has seen (0: none); at or above the floor; merged by max. */
  readonly level: number
}

/** How an empty ring gets its first split: exactly one decision for the whole cluster. */
export type InitMode =
  | { readonly kind: 'consensus', readonly count: number }
  | { readonly kind: 'seed', readonly peers: readonly PeerId[] }
  | { readonly kind: 'observer' }
  /** The oldest Kubernetes node's agent splits (node-init.ts); the agent feeds the Node list with `setNodes`. */
  | { readonly kind: 'kubernetes' }

/**
 * A Kubernetes Node as the init rule orders them: its name (the agent's nickname) and its
 * creationTimestamp in ms since the epoch (the API gives whole seconds).
 */
export interface NodeRecord {
  readonly name: string
  readonly created: number
}

/**
 * An allocation as the core knows it: an opaque key (the agent's attachment key), its address, and
 * the payload its request carried (the agent's pod metadata). The core never reads the payload: it
 * keeps it with the allocation and hands it to the persist batch, as a raft entry carries its data.
 */
export interface Allocation<P> {
  readonly key: string
  readonly offset: Offset
  readonly payload: P
}

/** A Paxos ballot: ordered by n, then by proposer id. */
export interface Ballot {
  readonly n: number
  readonly proposer: PeerId
}

/** What one acceptor remembers about one decision. Persisted before it answers. */
export interface AcceptorRecord {
  readonly key: string
  readonly promised: Ballot | null
  readonly accepted: { readonly ballot: Ballot, readonly value: readonly PeerId[] } | null
}

/** Everything a peer needs to come back after a crash. */
export interface PersistedPeer<P> {
  readonly ring: RingState
  readonly allocations: readonly Allocation<P>[]
  readonly acceptor: readonly AcceptorRecord[]
}

/**
 * What must be written, as one atomic synced batch, before any message or completion of the same
 * Ready is acted on.
 */
export interface PersistDelta<P> {
  /** The whole ring, when it changed. */
  readonly ring?: RingState
  /** Acceptor records that changed. */
  readonly acceptor?: readonly AcceptorRecord[]
  /** New allocations, each with its request's payload: the allocation and its payload are written together. */
  readonly putAllocations: readonly Allocation<P>[]
  readonly deleteAllocations: readonly string[]
}

export type PaxosMessage =
  | { readonly kind: 'prepare', readonly ballot: Ballot, readonly electorate: number }
  | { readonly kind: 'promise', readonly ballot: Ballot, readonly accepted: AcceptorRecord['accepted'] }
  | { readonly kind: 'accept', readonly ballot: Ballot, readonly value: readonly PeerId[] }
  | { readonly kind: 'accepted', readonly ballot: Ballot }
  | { readonly kind: 'nack', readonly ballot: Ballot, readonly promised: Ballot | null, readonly reason: string }

/** Messages between peers. The agent encodes them (codec.ts) and moves them; the core gives them meaning. */
export type Message =
  /** The whole ring, with the sender's hints: only to a peer that is new, behind or removed. */
  | { readonly type: 'ring', readonly ring: RingState, readonly hints: readonly Hint[] }
  /** A change, broadcast by the peer that made it. */
  | { readonly type: 'delta', readonly delta: RingDelta }
  /** Anti-entropy: the sender's digest; `reply` asks every receiver for its own. */
  | { readonly type: 'digest', readonly digest: Digest, readonly reply: boolean }
  /** Asks for the whole ring: the sender's digest told it that it is behind. */
  | { readonly type: 'pull' }
  /** The sender's free addresses now. */
  | { readonly type: 'hint', readonly free: bigint }
  | { readonly type: 'space-request', readonly address?: Offset }
  | { readonly type: 'space-grant', readonly delta: RingDelta, readonly range: Range }
  | { readonly type: 'space-deny', readonly digest: Digest, readonly reason: string }
  | { readonly type: 'paxos', readonly key: string, readonly msg: PaxosMessage }
  /**
   * kubernetes init: the sender's node and the node it takes for the initialiser (null: it knows
   * none yet). `reply: false` asks for an answer; an answer never asks for one.
   */
  | { readonly type: 'init-hello', readonly node: NodeRecord, readonly initialiser: NodeRecord | null, readonly reply: boolean }

/** `to: 'all'` is a broadcast to every peer (gossip); otherwise a direct message. */
export interface Outbound {
  readonly to: PeerId | 'all'
  readonly msg: Message
}

export type RequestId = number

export type CoreErrorCode =
  | 'not-ready'
  | 'exhausted'
  | 'address-unavailable'
  | 'no-quorum'
  | 'unknown-peer'
  | 'peer-alive'
  | 'removed'

export interface CoreError {
  readonly code: CoreErrorCode
  /** Names the reason, e.g. "awaiting consensus (quorum: 2, known: 1)". */
  readonly message: string
  readonly retryable: boolean
}

/** The requests a peer answers with a completion. */
export type RequestKind = 'allocate' | 'release' | 'rmpeer' | 'prime'

/** What each kind of request answers when it succeeds. */
interface Results {
  readonly allocate: { readonly offset: Offset }
  /** The offset released; null if the key held none. */
  readonly release: { readonly offset: Offset | null }
  /** The space this peer inherited: 0 if another peer is the heir, or the target was removed already. */
  readonly rmpeer: { readonly takenOver: bigint }
  readonly prime: Record<never, never>
}

export type Success<K extends RequestKind> = { readonly kind: K, readonly id: RequestId, readonly ok: true } & Results[K]
export interface Failure { readonly id: RequestId, readonly ok: false, readonly error: CoreError }

/** The answer to one request of kind K. */
export type CompletionOf<K extends RequestKind> = Success<K> | Failure
export type Completion = Success<'allocate'> | Success<'release'> | Success<'rmpeer'> | Success<'prime'> | Failure

/** Things worth a log line or a metric. */
export type CoreEvent =
  | { readonly kind: 'conflict', readonly token: Offset, readonly version: number, readonly localOwner: PeerId, readonly remoteOwner: PeerId, readonly from: PeerId }
  | { readonly kind: 'rejected-ring', readonly from: PeerId, readonly reason: string }
  | { readonly kind: 'initialised', readonly seeds: readonly PeerId[] }
  | { readonly kind: 'space-received', readonly from: PeerId, readonly range: Range }
  | { readonly kind: 'space-given', readonly to: PeerId, readonly range: Range }
  | { readonly kind: 'takeover', readonly peer: PeerId, readonly heir: PeerId }
  /** `heir` null: the removal was compacted away, and the floor told (README, "Compaction"). */
  | { readonly kind: 'removed-self', readonly heir: PeerId | null }

/** The core's only output. Act on it in order: persist, then send, then complete; then advance(). */
export interface Ready<P> {
  readonly persist: PersistDelta<P> | null
  readonly messages: readonly Outbound[]
  readonly completions: readonly Completion[]
  readonly events: readonly CoreEvent[]
}
