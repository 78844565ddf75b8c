/**
 * The Ready loop: the one place the core's output is acted on, strictly in order: persist the
 * batch, then send messages, then answer waiting requests, then log events, then advance(). One
 * batch is in flight at a time; whatever arrives while it is being written joins the next one,
 * which is how commits are grouped.
 */
import type { Completion, CompletionOf, CoreError, CoreEvent, Failure, Outbound, PersistDelta, Ready, RequestId, RequestKind } from '@weft/ring'
import type { Logger } from './log.ts'

/** The part of the core's Peer the loop drives; `P` is its allocations' payload. */
export interface ReadySource<P> {
  hasReady: () => boolean
  ready: () => Ready<P>
  advance: () => void
}

export interface DriverIo<P> {
  /**
   * Writes one batch (synced or not by the store's durability rule); a rejection or throw is fatal
   * (the core has moved on in memory). Null: written before it returned (a journalled batch), so its
   * messages and answers follow at once, without a promise and its step per batch.
   */
  readonly commit: (delta: PersistDelta<P>) => Promise<void> | null
  readonly send: (out: Outbound) => void
  readonly event: (e: CoreEvent) => void
  /** Called once if the loop cannot go on; the agent must stop. */
  readonly fatal: (err: Error) => void
  /** Told of every input and request: a clock that slows down while idle runs the ticks it owes first (ticker.ts). */
  readonly clock?: InputClock
}

/** What a clock that slows down while idle needs to know of the core's inputs (ticker.ts). */
export interface InputClock {
  /** An input or request is about to reach the core. */
  readonly beforeInput: () => void
  /** It reached it; `output`: the core has something to act on (a request always counts). */
  readonly afterInput: (output: boolean) => void
}

interface Waiter {
  readonly id: RequestId
  readonly kind: RequestKind
  readonly resolve: (c: Completion) => void
  /** performance.now() past which it completes as a timeout. */
  readonly deadline: number
  readonly timeoutMs: number
  readonly what: string
  readonly stalled: () => CoreError | null
}

export class Driver<P> {
  readonly #core: ReadySource<P>
  readonly #io: DriverIo<P>
  readonly #log: Logger
  /**
   * Requests waiting for a completion, by ascending id (ids only grow): found by binary search and
   * taken out in place. A Map whose size goes 0, 1, 0 at one request at a time made itself a new
   * table each time, garbage on every allocation's path.
   */
  readonly #waiting: Waiter[] = []
  #nextId: RequestId = 1
  #running = false
  #scheduled = false
  #failed: Error | null = null
  #idle: Array<() => void> = []
  /**
   * One timer for every waiting request, set for the earliest deadline (a timer per request was a
   * Timeout object and a closure of garbage on every allocation's path). Kept, unreferenced, while
   * nothing waits: requests mostly share one timeout, so a new deadline is rarely the earliest.
   */
  #timer: NodeJS.Timeout | null = null
  #timerAt = Infinity
  /** The Ready whose batch is being written. */
  #writing: Ready<P> | null = null

  constructor (core: ReadySource<P>, io: DriverIo<P>, log: Logger) {
    this.#core = core
    this.#io = io
    this.#log = log
  }

  /** Requests waiting for a completion. */
  get waiting (): number {
    return this.#waiting.length
  }

  /**
   * Starts a core request with a fresh id and waits for its completion, at most `timeoutMs`; then it
   * completes as a retryable not-ready error (a late completion is dropped: CNI retries are idempotent),
   * with `stalled()`'s error when it has one. `kind` is the core request `start` makes: its completion
   * is typed by it.
   */
  request<K extends RequestKind> (kind: K, start: (id: RequestId) => void, timeoutMs: number, what: string, stalled: () => CoreError | null = () => null): Promise<CompletionOf<K>> {
    // A stopped loop is an agent on its way out: the next one (restarted) may answer.
    if (this.#failed !== null) return Promise.resolve(failure(0, `the agent stopped: ${this.#failed.message}`))
    this.#io.clock?.beforeInput()
    const id = this.#nextId++
    const { promise, resolve } = Promise.withResolvers<CompletionOf<K>>()
    const deadline = performance.now() + timeoutMs
    // #complete resolves only with a failure or a success of this kind.
    this.#waiting.push({ id, kind, resolve: resolve as (c: Completion) => void, deadline, timeoutMs, what, stalled })
    if (this.#waiting.length === 1) this.#timer?.ref()
    if (deadline < this.#timerAt) this.#arm(deadline)
    // What input() does, without a closure per request.
    try {
      start(id)
      this.#schedule()
    } catch (err) {
      this.#fail(err as Error)
    }
    this.#io.clock?.afterInput(true)
    // The promise itself, not an async function's wrapped around it: one per request fewer.
    return promise
  }

  /** Feeds the core (a message, a tick, reachability) and makes sure its output is acted on. */
  input (feed: () => void): void {
    if (this.#failed !== null) return
    this.#io.clock?.beforeInput()
    try {
      feed()
    } catch (err) {
      this.#fail(err as Error)
      return
    }
    this.#io.clock?.afterInput(this.#core.hasReady())
    this.#schedule()
  }

  /** Resolves once no batch is in flight and none is ready. */
  async idle (): Promise<void> {
    if (!this.#running && !this.#scheduled) return
    await new Promise<void>(resolve => this.#idle.push(resolve))
  }

  /** Sets the one timer for `deadline`. */
  #arm (deadline: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timerAt = deadline
    this.#timer = setTimeout(() => { this.#expire() }, Math.max(0, deadline - performance.now()))
    if (this.#waiting.length === 0) this.#timer.unref()
  }

  /** Completes the requests past their deadline as retryable timeouts, and sets the timer for the next. */
  #expire (): void {
    this.#timer = null
    this.#timerAt = Infinity
    const now = performance.now()
    let next = Infinity
    // Backwards, as the ones past their deadline are taken out.
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const w = this.#waiting[i]!
      if (w.deadline > now) {
        next = Math.min(next, w.deadline)
        continue
      }
      this.#take(i)
      const reason = w.stalled()
      w.resolve(reason === null ? failure(w.id, `${w.what}: no answer within ${w.timeoutMs / 1000} s; try again`) : { id: w.id, ok: false, error: reason })
    }
    if (next < Infinity) this.#arm(next)
  }

  #schedule (): void {
    if (this.#running || this.#scheduled) return
    this.#scheduled = true
    // setImmediate, not a microtask: requests that arrive in the same I/O turn share one batch.
    setImmediate(this.#onImmediate)
  }

  // The loop's steps, bound once and handed to setImmediate and to each batch's commit: an async
  // loop kept a suspended frame (every local of the loop) and a promise per batch, and a closure
  // per batch was garbage on every allocation's path too.
  readonly #onImmediate = this.#immediate.bind(this)
  readonly #onCommitted = this.#committed.bind(this)
  readonly #onCommitFailed = this.#commitFailed.bind(this)

  #immediate (): void {
    this.#scheduled = false
    this.#run()
  }

  /** Acts on every Ready until there is none, or until one has a batch to write (then #committed goes on). */
  #run (): void {
    this.#running = true
    try {
      while (this.#failed === null && this.#core.hasReady()) {
        const rd = this.#core.ready()
        const writing = rd.persist === null ? null : this.#io.commit(rd.persist)
        if (writing !== null) {
          this.#writing = rd
          writing.then(this.#onCommitted, this.#onCommitFailed)
          return
        }
        this.#act(rd)
      }
    } catch (err) {
      this.#fail(err as Error)
    }
    this.#stopped()
  }

  /** The batch of `#writing` is written: its messages, answers and events follow, then the next Ready. */
  #committed (): void {
    const rd = this.#writing!
    this.#writing = null
    try {
      this.#act(rd)
    } catch (err) {
      this.#fail(err as Error)
      this.#stopped()
      return
    }
    this.#run()
  }

  #commitFailed (err: unknown): void {
    this.#writing = null
    this.#fail(err as Error)
    this.#stopped()
  }

  /** Sends, answers and logs what one Ready holds, in that order, then advances the core. */
  #act (rd: Ready<P>): void {
    // Indexed, not for-of: no iterator objects on every batch's path.
    for (let i = 0; i < rd.messages.length; i++) this.#io.send(rd.messages[i]!)
    for (let i = 0; i < rd.completions.length; i++) this.#complete(rd.completions[i]!)
    for (let i = 0; i < rd.events.length; i++) this.#io.event(rd.events[i]!)
    this.#core.advance()
  }

  #stopped (): void {
    this.#running = false
    if (this.#idle.length > 0) for (const resolve of this.#idle.splice(0)) resolve()
  }

  #complete (c: Completion): void {
    const i = this.#find(c.id)
    const w = i < 0 ? undefined : this.#waiting[i]!
    if (w === undefined) {
      this.#log.debug({ id: c.id }, 'completion for a request that timed out')
      return
    }
    if (c.ok && c.kind !== w.kind) {
      this.#fail(new Error(`the core completed ${w.kind} request ${c.id} as a ${c.kind}`))
      return
    }
    this.#take(i)
    w.resolve(c)
  }

  /** Where the request `id` waits; -1 if it does not (it timed out). */
  #find (id: RequestId): number {
    const w = this.#waiting
    let lo = 0
    let hi = w.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const at = w[mid]!.id
      if (at === id) return mid
      if (at < id) lo = mid + 1
      else hi = mid - 1
    }
    return -1
  }

  /** Takes the waiting request at `i` out, in place (the usual one is the only one, or the first). */
  #take (i: number): void {
    const w = this.#waiting
    // The last (at one request at a time, the only one): pop(). shift() of an array's one element
    // left it no backing store, and the next push made one anew (about 150 bytes a request). The
    // first of several: shift() (V8 moves a long array's start instead of its elements); else the
    // rest move up.
    if (i === w.length - 1) w.pop()
    else if (i === 0) w.shift()
    else {
      w.copyWithin(i, i + 1)
      w.pop()
    }
    if (w.length === 0) this.#timer?.unref()
  }

  #fail (err: Error): void {
    if (this.#failed !== null) return
    this.#failed = err
    this.#log.fatal({ err }, 'the ready loop failed; stopping')
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    for (const w of this.#waiting.splice(0)) w.resolve(failure(w.id, `the agent stopped: ${err.message}`))
    this.#io.fatal(err)
  }
}

/** Retryable: the same request may succeed later, on this agent or on the one restarted in its place. */
function failure (id: RequestId, message: string): Failure {
  return { id, ok: false, error: { code: 'not-ready', message, retryable: true } }
}
