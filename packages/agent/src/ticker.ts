/**
 * The cores' clock. While anything happens it ticks every `tickMs`, one tick per timer, as before.
 * Once nothing has for `IDLE_AFTER_MS` (no input or tick that left output, no request waiting), it
 * wakes only every `IDLE_WAKE_MS` and runs the ticks it owes then; an input first runs the ticks owed
 * so far, and one that leaves output makes the clock fast again. So the cores see the same ticks in
 * the same order relative to their inputs; only what a tick does by itself while idle comes up to
 * `IDLE_WAKE_MS` later. An input that changes nothing (the Node list polled again, unchanged) leaves
 * the clock slow. IDLE_AFTER_MS is longer than every protocol timeout but the request's and rmpeer's
 * (a request waiting keeps the clock fast): a wait that activity started has run out before it slows.
 * Ten wake-ups a second were most of an idle agent's CPU: a lone agent idled at 0.33 % of a core
 * ticking every 100 ms, 0.13 % every second.
 */
import type { InputClock } from './driver.ts'

/** Nothing for this long, and the clock slows down. */
export const IDLE_AFTER_MS = 10_000
/** How often a slow clock wakes, at most (never more often than it ticks). */
export const IDLE_WAKE_MS = 1_000

export interface TickerIo {
  /** Runs `count` ticks on every core, each through its Ready loop; true if any left output. */
  readonly tick: (count: number) => boolean
  /** Requests waiting for a completion, on every core. */
  readonly waiting: () => number
  readonly now: () => number
}

/** The ticks owed `elapsedMs` after the last one, at most one slow wake-up's worth (a stall owes no more). */
export function owedTicks (elapsedMs: number, tickMs: number, wakeMs: number): number {
  return Math.max(0, Math.min(Math.floor(elapsedMs / tickMs), Math.max(1, Math.floor(wakeMs / tickMs))))
}

export class Ticker implements InputClock {
  readonly #tickMs: number
  readonly #idleAfterMs: number
  readonly #wakeMs: number
  /** Null until `start`, and after `stop`. */
  #io: TickerIo | null = null
  #fast: NodeJS.Timeout | null = null
  #slow: NodeJS.Timeout | null = null
  /** When something last happened; when the last tick ran. */
  #activeAt = 0
  #tickedAt = 0
  /** Its own ticks are being fed: the inputs they make are not activity. */
  #ticking = false

  constructor (tickMs: number, idleAfterMs = IDLE_AFTER_MS, wakeMs = IDLE_WAKE_MS) {
    this.#tickMs = tickMs
    this.#idleAfterMs = idleAfterMs
    this.#wakeMs = Math.max(tickMs, wakeMs)
  }

  /** Starts ticking, fast. The cores' loops exist before it (they tell it of inputs), the ticks need them. */
  start (io: TickerIo): void {
    if (this.#io !== null) return
    this.#io = io
    this.#activeAt = this.#tickedAt = io.now()
    this.#goFast()
  }

  /** An input is about to reach a core: the ticks a slow clock owes go first. */
  beforeInput (): void {
    if (this.#ticking || this.#io === null || this.#fast !== null) return
    if (this.#catchUp()) this.#goFast()
  }

  /** It reached it: with output (or a request), something happens, and the clock is fast. */
  afterInput (output: boolean): void {
    if (this.#ticking || this.#io === null || !output) return
    this.#activeAt = this.#io.now()
    if (this.#fast === null) this.#goFast()
  }

  stop (): void {
    this.#io = null
    if (this.#fast !== null) clearInterval(this.#fast)
    if (this.#slow !== null) clearTimeout(this.#slow)
    this.#fast = this.#slow = null
  }

  #goFast (): void {
    if (this.#slow !== null) clearTimeout(this.#slow)
    this.#slow = null
    this.#fast = setInterval(() => { this.#fastTick() }, this.#tickMs)
  }

  #fastTick (): void {
    const io = this.#io!
    const now = io.now()
    if (this.#run(1) || io.waiting() > 0) this.#activeAt = now
    this.#tickedAt = now
    // Stopped by what the tick did (a fatal error), or still busy.
    if (this.#io === null || now - this.#activeAt < this.#idleAfterMs) return
    clearInterval(this.#fast!)
    this.#fast = null
    this.#armSlow()
  }

  #armSlow (): void {
    this.#slow = setTimeout(() => {
      this.#slow = null
      const output = this.#catchUp()
      if (this.#io === null) return
      if (output) this.#goFast()
      else this.#armSlow()
    }, this.#wakeMs)
  }

  /** Runs the ticks owed now; true if they left output (the clock should be fast). */
  #catchUp (): boolean {
    const now = this.#io!.now()
    const elapsed = now - this.#tickedAt
    const owed = owedTicks(elapsed, this.#tickMs, this.#wakeMs)
    if (owed === 0) return false
    // The ticks a fast clock would have run by now (the rest of one carries over); past a stall, from now.
    this.#tickedAt = owed < Math.floor(elapsed / this.#tickMs) ? now : this.#tickedAt + owed * this.#tickMs
    const output = this.#run(owed)
    if (output) this.#activeAt = now
    return output
  }

  #run (count: number): boolean {
    this.#ticking = true
    try {
      return this.#io!.tick(count)
    } finally {
      this.#ticking = false
    }
  }
}
