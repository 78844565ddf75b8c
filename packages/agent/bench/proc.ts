/**
 * What the agent benches read of a process and how they wait: its CPU and RSS from /proc, the
 * median of a sample, and a bounded poll.
 */
import { readFile } from 'node:fs/promises'
import { sleep } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

/** /proc/<pid>/stat counts in clock ticks of 1/100 s on Linux. */
export const CLK_TCK = 100

export const pidOf = (a: AgentProcess): number => a.child.pid ?? 0

export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

export async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024
}

/** utime + stime of a process, in clock ticks. */
export async function cpuTicks (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The command name is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** A process's counters at one instant: its CPU, its main thread's wake-ups, its bytes read and written. */
export interface ProcSample {
  readonly cpuTicks: number
  /** Voluntary context switches of the main thread: each is one return from the event loop's wait (V8's and libuv's helper threads are other tasks). */
  readonly wakeups: number
  /** rchar / wchar: every socket, the store and the log. */
  readonly rchar: number
  readonly wchar: number
}

export async function procSample (pid: number): Promise<ProcSample> {
  const main = await readFile(`/proc/${pid}/task/${pid}/status`, 'utf8')
  const io = await readFile(`/proc/${pid}/io`, 'utf8')
  const num = (text: string, key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN)
  return { cpuTicks: await cpuTicks(pid), wakeups: num(main, 'voluntary_ctxt_switches'), rchar: num(io, 'rchar'), wchar: num(io, 'wchar') }
}

/** Polls `done` every `everyMs` until it holds or `bound` ms pass; the milliseconds taken, or null. */
export async function timed (bound: number, done: () => Promise<boolean>, everyMs = 250): Promise<number | null> {
  const started = performance.now()
  while (performance.now() - started < bound) {
    if (await done().catch(() => false)) return performance.now() - started
    await sleep(everyMs)
  }
  return null
}
