/** Bounded waits: every loop in a test has a count and an interval. */

/**
 * Polls `check` until it returns true: at most `attempts` times, `intervalMs` apart. Throws naming
 * `what` and the last error if it never does.
 */
export async function waitFor (what: string, check: () => boolean | Promise<boolean>, attempts = 300, intervalMs = 100): Promise<void> {
  let last: unknown = null
  for (let i = 0; i < attempts; i++) {
    try {
      if (await check()) return
      last = null
    } catch (err) {
      last = err
    }
    await sleep(intervalMs)
  }
  throw new Error(`timed out waiting for ${what} (${attempts} checks, ${intervalMs} ms apart)${last === null ? '' : `; last error: ${(last as Error).message}`}`)
}

/** Runs `job(0..count-1)` with at most `width` in flight; results in index order. */
export async function inParallel<T> (count: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) {
      const i = next++
      out[i] = await job(i)
    }
  }))
  return out
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
