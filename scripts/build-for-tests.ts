/** Vitest global setup: the agent processes the tests start run dist/weft.mjs, so it is built first when stale. */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export function setup (): void {
  execFileSync('bash', [fileURLToPath(new URL('build-weft.sh', import.meta.url)), '--if-stale'], { stdio: 'inherit', timeout: 300_000 })
}
