/**
 * Keeps the kernel in line with the plan: on every change of the input (the ring, as the agent
 * commits it) and every `intervalMs` (repairing drift: a route deleted or changed by hand is put back).
 * One pass at a time; a change during a pass runs another right after it. A failed command is logged
 * with the kernel's answer, counted, and retried sooner than the interval; nothing here ever throws
 * into the caller, so routing trouble never touches allocation.
 */
import { diff, isEmpty } from './diff.ts'
import type { Failure, Kernel } from './kernel.ts'
import { plan } from './plan.ts'
import type { PlanInput } from './plan.ts'

/** The part of a pino logger this uses. */
export interface RouteLog {
  info: (obj: Readonly<Record<string, unknown>>, msg: string) => void
  warn: (obj: Readonly<Record<string, unknown>>, msg: string) => void
}

export interface ReconcilerOptions {
  readonly kernel: Kernel
  readonly log: RouteLog
  readonly intervalMs: number
  /** Called once per command that failed. */
  readonly failed?: (f: Failure) => void
}

export interface RouteStats {
  /** Routes to other peers in the last plan. */
  readonly routes: number
  /** Peers owning ranges that get no route (no usable node address). */
  readonly unroutable: number
  /** Passes that ended with every command applied. */
  readonly passes: number
}

const MIN_RETRY_MS = 500

export class Reconciler {
  readonly #o: ReconcilerOptions
  #input: Omit<PlanInput, 'uplinkMtu'> | null = null
  #key: string | null = null
  #running: Promise<void> | null = null
  #again = false
  #timer: NodeJS.Timeout | null = null
  #retries = 0
  #stopped = false
  #stats: RouteStats = { routes: 0, unroutable: 0, passes: 0 }
  /** Peer and reason already logged as unroutable: logged once, not on every pass. */
  readonly #reported = new Set<string>()

  constructor (options: ReconcilerOptions) {
    this.#o = options
  }

  get stats (): RouteStats { return this.#stats }

  /**
   * The newest input; a pass follows at once if it can change the plan. Most ring changes are free-count
   * reports (one per allocation batch): they leave owners and addresses as they were, and start no pass.
   */
  update (input: Omit<PlanInput, 'uplinkMtu'>): void {
    const key = planKey(input)
    this.#input = input
    if (key === this.#key) return
    this.#key = key
    this.#kick()
  }

  /** Resolves once no pass is running or queued. */
  async idle (): Promise<void> {
    while (this.#running !== null) await this.#running
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
  }

  #kick (): void {
    if (this.#stopped) return
    if (this.#running !== null) {
      this.#again = true
      return
    }
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#running = this.#loop().finally(() => { this.#running = null })
  }

  async #loop (): Promise<void> {
    let ok = true
    do {
      this.#again = false
      ok = await this.#pass()
    } while (this.#again && !this.#stopped)
    if (this.#stopped) return
    this.#retries = ok ? 0 : this.#retries + 1
    const wait = ok ? this.#o.intervalMs : Math.min(this.#o.intervalMs, MIN_RETRY_MS * 2 ** Math.min(this.#retries - 1, 10))
    this.#timer = setTimeout(() => this.#kick(), wait)
  }

  /** One read-plan-diff-apply; true when nothing failed. */
  async #pass (): Promise<boolean> {
    const input = this.#input
    if (input === null) return true
    try {
      const tunnelEnd = input.selfAddresses[0]
      const uplinkMtu = input.mode === 'vxlan' && tunnelEnd !== undefined ? await this.#o.kernel.mtuOf(tunnelEnd) : null
      const want = plan({ ...input, uplinkMtu })
      for (const u of want.unroutable) {
        const key = `${u.peer}\u0000${u.range}\u0000${u.reason}`
        if (this.#reported.has(key)) continue
        this.#reported.add(key)
        this.#o.log.warn({ event: 'peer-unroutable', peer: u.peer, range: u.range, reason: u.reason }, 'no route to a peer\'s pods')
      }
      this.#stats = { ...this.#stats, routes: want.routes.length, unroutable: want.unroutable.length }
      const changes = diff(want, await this.#o.kernel.read(want))
      if (isEmpty(changes)) {
        this.#stats = { ...this.#stats, passes: this.#stats.passes + 1 }
        return true
      }
      const failures = await this.#o.kernel.apply(changes)
      for (const f of failures) {
        this.#o.failed?.(f)
        this.#o.log.warn({ event: 'route-failed', command: f.command, answer: f.answer }, 'programming the kernel failed; will retry')
      }
      this.#o.log.info({ event: 'routes-updated', commands: changes.ip.length + changes.bridge.length + changes.sysctls.length, failed: failures.length, routes: want.routes.length }, 'routes updated')
      if (failures.length === 0) this.#stats = { ...this.#stats, passes: this.#stats.passes + 1 }
      return failures.length === 0
    } catch (err) {
      const f = { command: 'reading the kernel', answer: (err as Error).message }
      this.#o.failed?.(f)
      this.#o.log.warn({ event: 'route-failed', ...f }, 'programming the kernel failed; will retry')
      return false
    }
  }
}

/** What the plan depends on: per pool tokens and owners, removals, member addresses; the node's own settings. */
function planKey (input: Omit<PlanInput, 'uplinkMtu'>): string {
  return JSON.stringify([
    input.self, input.selfAddresses, input.mode, input.bridge,
    input.pools.map(({ universe, ring: r }) => [
      universe.cidr,
      r.entries.map(e => [e.token.toString(), e.owner]),
      r.removed.map(x => [x.peer, x.heir]),
      r.members.map(m => [m.peer, m.address ?? null])
    ])
  ])
}
