/** Swarm keys (pnet PSKs) for the agents a test starts. */
import { writeFile } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'

/** A fresh pnet swarm key: "/key/swarm/psk/1.0.0/", "/base16/", 64 hex digits. */
export function newSwarmKey (): Uint8Array {
  const key = new Uint8Array(95)
  generateKey(key)
  return key
}

/** A swarm key file, root-only, as the agent expects it. */
export async function writeSwarmKey (path: string): Promise<void> {
  await writeFile(path, newSwarmKey(), { mode: 0o600 })
}
