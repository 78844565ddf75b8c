/**
 * Test support shared by the agent's tests and the e2e suite: free ports, temp dirs, bounded waits,
 * and real agent processes (spawned with an env, waited for on their socket, killed on teardown).
 */
import { createServer } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port')))
    })
  })
}

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
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  throw new Error(`timed out waiting for ${what} (${attempts} checks, ${intervalMs} ms apart)${last === null ? '' : `; last error: ${(last as Error).message}`}`)
}

/** A fresh directory under the OS temp dir; remove it with `removeTempDir`. */
export async function makeTempDir (label: string): Promise<string> {
  return await mkdtemp(join(tmpdir(), `weft-${label}-`))
}

export async function removeTempDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}
