import type { AgentCalls } from './agent-calls.ts'
import { runCommand } from './commands.ts'
import { parseConfig } from './config.ts'
import { parseEnv } from './env.ts'
import type { Env } from './env.ts'
import { CniCode, CniError, errorJson } from './errors.ts'
import { LATEST_VERSION, SUPPORTED_VERSIONS } from './versions.ts'

/** What the plugin prints (one JSON document, or nothing) and the status it exits with. */
export interface PluginAnswer {
  exitCode: 0 | 1
  output: Record<string, unknown> | null
}

/** One CNI invocation, as the plugin received it: env and stdin in, the plugin's answer out. */
export async function invoke (env: Env, stdin: string, agent: AgentCalls): Promise<PluginAnswer> {
  let cniVersion: string = LATEST_VERSION
  try {
    const inv = parseEnv(env)
    // The plugin prints its about line itself: without a command there is nothing to run.
    if (inv === null) throw new CniError(CniCode.invalidEnv, 'required env variables [CNI_COMMAND] missing')
    if (inv.command === 'VERSION') return { exitCode: 0, output: { cniVersion: LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] } }
    const conf = parseConfig(stdin, inv)
    cniVersion = conf.cniVersion
    return { exitCode: 0, output: await runCommand(inv, conf, agent) }
  } catch (err) {
    const cniErr = err instanceof CniError ? err : new CniError(CniCode.internal, err instanceof Error ? err.message : String(err))
    return { exitCode: 1, output: { ...errorJson(cniErr, cniVersion) } }
  }
}
