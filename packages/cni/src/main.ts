import { readFileSync } from 'node:fs'
import { createClient } from '@weft/protocol'
import { runCommand } from './commands.ts'
import { parseConfig } from './config.ts'
import { parseEnv } from './env.ts'
import { CniCode, CniError, errorJson } from './errors.ts'
import { LATEST_VERSION, SUPPORTED_VERSIONS } from './versions.ts'

/** How long ADD, DEL, CHECK and GC wait for an agent that does not answer on its socket. */
const AGENT_WAIT_MS = 10_000

/** The process boundary of the plugin: env and stdin in, JSON on stdout, exit status out. */
async function main (): Promise<number> {
  let cniVersion: string = LATEST_VERSION
  try {
    const inv = parseEnv(process.env)
    if (inv === null) {
      process.stderr.write(`CNI weft plugin: IPAM from the weft agent's socket\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`)
      return 0
    }
    if (inv.command === 'VERSION') {
      print({ cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS })
      return 0
    }
    const conf = parseConfig(readFileSync(0, 'utf8'), inv)
    cniVersion = conf.cniVersion
    // An agent restarting (a DaemonSet pod after a crash) is waited for, bounded, so that a runtime
    // that never retries (podman) neither fails the ADD nor leaks the address of a DEL. STATUS asks now.
    const waitForAgentMs = inv.command === 'STATUS' ? 0 : AGENT_WAIT_MS
    const out = await runCommand(inv, conf, createClient({ socketPath: conf.ipam.socket, waitForAgentMs }))
    if (out !== null) print(out)
    return 0
  } catch (err) {
    const cniErr = err instanceof CniError ? err : new CniError(CniCode.internal, err instanceof Error ? err.message : String(err))
    print(errorJson(cniErr, cniVersion))
    return 1
  }
}

function print (json: unknown): void {
  process.stdout.write(JSON.stringify(json) + '\n')
}

// No top-level await: the single executable runs this as a CommonJS bundle.
void main().then((code) => { process.exitCode = code })
