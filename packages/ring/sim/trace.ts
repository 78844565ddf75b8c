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
