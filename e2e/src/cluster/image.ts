/**
 * What the image gives a container, read from deploy/Dockerfile's final stage: the entrypoint, the
 * default command, the working directory and the environment (ENV lines, `$VAR` expanded against the
 * base image's). The image's filesystem is the repository itself, mounted at its WORKDIR.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from '@weft/testkit'

/** The PATH of the Debian-based node images the Dockerfile builds from. */
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface Image {
  readonly entrypoint: readonly string[]
  readonly cmd: readonly string[]
  readonly workdir: string
  readonly env: Readonly<Record<string, string>>
}

export function readImage (path = join(REPO_ROOT, 'deploy', 'Dockerfile')): Image {
  // Continuation lines joined; only the last stage is the image.
  const lines = readFileSync(path, 'utf8').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim())
  const stage = lines.slice(lines.findLastIndex((l) => /^FROM\s/i.test(l)))
  const last = (word: string): string | undefined => stage.findLast((l) => l.startsWith(`${word} `))?.slice(word.length + 1).trim()
  const env: Record<string, string> = { PATH: BASE_PATH }
  for (const l of stage.filter((l) => l.startsWith('ENV '))) {
    for (const [, k = '', v = ''] of l.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) {
      env[k] = v.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => env[name] ?? '')
    }
  }
  const entry = last('ENTRYPOINT')
  const workdir = last('WORKDIR')
  if (entry === undefined || workdir === undefined) throw new Error(`${path}: the final stage needs ENTRYPOINT and WORKDIR`)
  return { entrypoint: execForm(entry, path), cmd: execForm(last('CMD') ?? '[]', path), workdir, env }
}

function execForm (text: string, path: string): string[] {
  const v: unknown = JSON.parse(text)
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`${path}: ${text} is not an exec-form list`)
  return v
}
