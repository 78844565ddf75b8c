/**
 * The private-network (pnet) key: no key, no membership. Read once at start and checked here, so a
 * malformed file stops the agent with a clear error instead of failing every handshake. Error
 * messages name the file and never its contents.
 */
import { readFile, stat } from 'node:fs/promises'
import { SwarmKeyError } from './errors.ts'

const FORMAT = /^\/key\/swarm\/psk\/1\.0\.0\/\r?\n\/base16\/\r?\n[0-9a-fA-F]{64}\s*$/

export interface SwarmKey {
  readonly bytes: Uint8Array
  /** True when group or others may read the file: worth a warning, since any holder is a member. */
  readonly exposed: boolean
}

export async function readSwarmKey (path: string): Promise<SwarmKey> {
  let bytes: Buffer
  let mode: number
  try {
    bytes = await readFile(path)
    mode = (await stat(path)).mode
  } catch (err) {
    throw new SwarmKeyError(`WEFT_SWARM_KEY_FILE ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  if (!FORMAT.test(bytes.toString('latin1'))) {
    throw new SwarmKeyError(`WEFT_SWARM_KEY_FILE ${path}: not a swarm key (expected "/key/swarm/psk/1.0.0/", "/base16/" and 64 hex digits on three lines)`)
  }
  return { bytes, exposed: (mode & 0o077) !== 0 }
}
