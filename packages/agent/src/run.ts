/**
 * The agent as a process: configuration from an environment, SIGTERM/SIGINT for a clean stop, and
 * exit codes: 0 after a clean stop, 1 when the agent failed, 2 for a bad configuration.
 */
import { hostname } from 'node:os'
import { parseConfig } from './config.ts'
import { ConfigError, IdentityError, MeshError, SocketError, StoreError, SwarmKeyError } from './errors.ts'
import { startAgent } from './agent.ts'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_CONFIG = 2

/** Errors a user can fix: printed as one line, without a stack. */
const USER_ERRORS = [ConfigError, IdentityError, MeshError, SocketError, StoreError, SwarmKeyError]

/** Runs until a signal or a fatal error; resolves with the exit code. The CLI's `weft agent` calls this too. */
export async function runAgentMain (env: Readonly<Record<string, string | undefined>>): Promise<number> {
  let config
  try {
    config = parseConfig(env, { hostname: hostname() })
  } catch (err) {
    printFatal(err)
    return err instanceof ConfigError ? EXIT_CONFIG : EXIT_FAILED
  }
  // Listening before the start: a signal during it stops the agent as soon as it is up.
  // A second signal is not caught, so it ends the process at once.
  const signalled = new Promise<string>(resolve => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
  })
  let agent
  try {
    agent = await startAgent(config)
  } catch (err) {
    printFatal(err)
    return EXIT_FAILED
  }
  const outcome = await Promise.race([signalled.then(() => null), agent.failed])
  try {
    await agent.stop()
  } catch (err) {
    printFatal(err)
    return EXIT_FAILED
  }
  if (outcome !== null) {
    printFatal(outcome)
    return EXIT_FAILED
  }
  return EXIT_OK
}

function printFatal (err: unknown): void {
  const e = err as Error
  const known = USER_ERRORS.some(cls => err instanceof cls)
  process.stderr.write(`weft agent: ${known ? e.message : (e.stack ?? String(err))}\n`)
}
