/**
 * The safety of the takeover rules that use reachability, checked as the world runs. For every
 * takeover a peer decides, the deciding ballot's vote is the time from its first accept sent to the
 * decision. Let V be the peers the decider's ring knew when it sent that ballot's prepare (the dead
 * one included), and W the peers of V that were up and reached the target at every moment of the
 * vote, with the target itself if it was up throughout. The check: 2|W| < |V|. That is, a live peer
 * that half its electorate or more (itself counted) reaches throughout a vote is never removed by
 * it. It holds because every acceptor that reaches the target refuses (`peer-alive`), the target
 * never votes for its own removal, and a quorum is a strict majority of the electorate; each of the
 * planted bugs (an acceptor that ignores `peer-alive`, an electorate of the reachable peers only, a
 * quorum of half) breaks it. "Never two heirs" is the world's own check (`takeover twice`).
 */
import { Ring } from '../src/ring.ts'
import type { Message, PeerId } from '../src/types.ts'
import { takeoverTarget } from '../src/takeover.ts'
import { Violation, type Watch } from './world-checks.ts'
import type { World } from './world.ts'

/** What the schedules did, so a test can tell the check was not vacuous. */
export interface ReachStats {
  /** Takeovers decided (by a vote or a planted bug). */
  decisions: number
  /** Of those, of a target that was up when it was decided (cut off from most, but alive). */
  liveDecisions: number
  /** Of those, decided while some voter other than the target reached it throughout the vote. */
  contested: number
  /** rmpeer requests refused with `peer-alive` (the target answered, or a voter reaches it). */
  refused: number
}

interface Ballot { readonly id: string, readonly at: number }
interface Prepared { readonly id: string, readonly voters: readonly PeerId[] }

export class ReachWatch implements Watch {
  private world: World | null = null
  /** Counts the reachability changes: the watch's clock. */
  private now = 0
  /** `y x` -> since when y has reached x without a break; absent while it does not. */
  private readonly reaching = new Map<string, number>()
  /** Up peer -> since when it has been up. */
  private readonly upSince = new Map<PeerId, number>()
  /** `proposer target` -> its latest ballot's first accept. */
  private readonly accepts = new Map<string, Ballot>()
  /** `proposer target` -> its latest prepare, with the peers its ring knew then. */
  private readonly prepares = new Map<string, Prepared>()
  /** Targets decided while not dead: the schedule stops them for good (their node is gone). */
  readonly removedAlive: PeerId[] = []
  readonly stats: ReachStats = { decisions: 0, liveDecisions: 0, contested: 0, refused: 0 }

  attach (w: World): void { this.world = w }

  /** The world's meter: notes the takeover ballots' prepares and accepts as they leave. */
  readonly meter = (msg: Message, _recipients: number, from: PeerId): void => {
    if (msg.type !== 'paxos') return
    const target = takeoverTarget(msg.key)
    if (target === null || (msg.msg.kind !== 'prepare' && msg.msg.kind !== 'accept')) return
    const key = `${from} ${target}`
    const id = `${msg.msg.ballot.n} ${msg.msg.ballot.proposer}`
    if (msg.msg.kind === 'accept') {
      if (this.accepts.get(key)?.id !== id) this.accepts.set(key, { id, at: this.now })
    } else if (this.prepares.get(key)?.id !== id) {
      this.prepares.set(key, { id, voters: this.electorate(from, target) })
    }
  }

  reached (): void {
    const w = this.world!
    this.now++
    const up = w.ids('up')
    const upSet = new Set(up)
    for (const p of [...this.upSince.keys()]) if (!upSet.has(p)) this.upSince.delete(p)
    for (const p of up) if (!this.upSince.has(p)) this.upSince.set(p, this.now)
    for (const k of [...this.reaching.keys()]) {
      const [y, x] = k.split(' ') as [PeerId, PeerId]
      if (!upSet.has(y) || !upSet.has(x) || !w.net.connected(y, x)) this.reaching.delete(k)
    }
    for (const y of up) {
      for (const x of up) {
        if (x !== y && w.net.connected(y, x) && !this.reaching.has(`${y} ${x}`)) this.reaching.set(`${y} ${x}`, this.now)
      }
    }
  }

  decided (by: PeerId, dead: PeerId, heir: PeerId): void {
    const key = `${by} ${dead}`
    const accept = this.accepts.get(key)
    const prepare = this.prepares.get(key)
    // A vote that needed no other peer (a planted bug, or --force) sent nothing: it began now.
    const since = accept?.at ?? this.now
    const voters = prepare !== undefined && accept?.id === prepare.id ? prepare.voters : this.electorate(by, dead)
    const throughout = (t: number | undefined): boolean => t !== undefined && t <= since
    const saw = voters.filter(y => y === dead ? throughout(this.upSince.get(dead)) : throughout(this.reaching.get(`${y} ${dead}`)))
    this.accepts.delete(key)
    this.prepares.delete(key)
    this.stats.decisions++
    if (this.upSince.has(dead)) this.stats.liveDecisions++
    if (saw.some(y => y !== dead)) this.stats.contested++
    if (2 * saw.length >= voters.length) throw new Violation(`removed while reachable: ${by} decided ${dead} goes to ${heir}, but ${saw.length} of its ${voters.length} voters reached ${dead} or were it, throughout the vote: [${saw.join(' ')}]`)
    if (!this.world!.ids('dead').includes(dead)) this.removedAlive.push(dead)
  }

  /** Who votes on removing `target` in `by`'s view: every peer its ring knows, and the target. */
  private electorate (by: PeerId, target: PeerId): PeerId[] {
    const w = this.world!
    const known = Ring.fromState(w.universe, w.peer(by).ring()).knownPeers()
    return known.includes(target) ? known : [...known, target]
  }
}
