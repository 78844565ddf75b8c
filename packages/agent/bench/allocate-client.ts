/**
 * The bench's timed client (allocate-client.c, which says why it is C), built into a directory of the
 * run and run once per storm.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SOURCE = fileURLToPath(new URL('allocate-client.c', import.meta.url))

/** One request's start and end (ms, CLOCK_MONOTONIC). */
export interface Span { readonly start: number, readonly end: number }

/** Builds the client into `dir` with the host's C compiler (gcc, as the plugin is); returns its path. */
export async function buildAllocateClient (dir: string): Promise<string> {
  const out = join(dir, 'allocate-client')
  await run(process.env.CC ?? 'cc', ['-std=c11', '-O2', '-pthread', '-Wall', '-Wextra', '-Werror', '-o', out, SOURCE], { timeout: 120_000 })
  return out
}

/** Allocates containers `prefix`-0 to -(count-1) on `socketPath`, `concurrency` in flight; each request's span, in order. */
export async function allocateStorm (client: string, socketPath: string, prefix: string, count: number, concurrency: number): Promise<Span[]> {
  return await spansOf(client, [socketPath, String(concurrency), String(count), prefix], count)
}

/**
 * Allocates `count` containers one at a time as allocateStorm does, in blocks of `block` alternated
 * with the same requests to the client's echo of the agent's answer on `floorSocket` (the machine's
 * own floor: a connection per request to a C server on a unix socket); the spans of each, in order.
 */
export async function interleavedStorm (client: string, socketPath: string, floorSocket: string, prefix: string, count: number, block: number): Promise<{ agent: Span[], floor: Span[] }> {
  const spans = await spansOf(client, [socketPath, '1', String(count), prefix, floorSocket, String(block)], 2 * count)
  return { agent: spans.slice(0, count), floor: spans.slice(count) }
}

async function spansOf (client: string, args: string[], lines: number): Promise<Span[]> {
  const { stdout } = await run(client, args, { maxBuffer: 64 * lines + 1024, timeout: 600_000 })
  const spans = stdout.trimEnd().split('\n').map(line => {
    const [start, end] = line.split(' ').map(ns => Number(ns) / 1e6)
    return { start: start!, end: end! }
  })
  if (spans.length !== lines || spans.some(s => !(s.end >= s.start))) throw new Error(`allocate-client: expected ${lines} spans, got ${spans.length} lines`)
  return spans
}
