/** Runs the `weft` command (bin/weft) as a user does, bounded in time. */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { REPO_ROOT } from '@weft/testkit'

export const WEFT = join(REPO_ROOT, 'bin', 'weft')

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

export async function weft (args: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return await new Promise((resolve) => {
    execFile(WEFT, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}
