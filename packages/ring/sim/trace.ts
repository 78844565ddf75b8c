/** The trace of a schedule, and how values are written in it. */
import type { Completion } from '../src/types.ts'

/** The last few things that happened in a schedule, printed when a check fails. */
export class Trace {
  private readonly lines: string[] = []
  private readonly keep: number

  constructor (keep = 40) {
    this.keep = keep
  }

  add (line: string): void {
    this.lines.push(line)
    if (this.lines.length > this.keep) this.lines.shift()
  }

  tail (): readonly string[] { return this.lines }
}

/** JSON.stringify's replacer for the trace: bigints as decimal strings. */
export const big = (_k: string, v: unknown): unknown => typeof v === 'bigint' ? `${v}` : v

/** A success's result for the trace: the offset allocated or released, the space taken over, or nothing. */
export function outcome (c: Extract<Completion, { ok: true }>): string {
  switch (c.kind) {
    case 'allocate': return String(c.offset)
    case 'release': return c.offset === null ? '' : String(c.offset)
    case 'rmpeer': return String(c.takenOver)
    case 'prime': return ''
  }
}
