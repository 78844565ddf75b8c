/**
 * The node's Ed25519 key: created once in the data directory, then loaded on every start, so the
 * PeerId (the owner of ring entries) is stable across restarts. Never silently replaced: a damaged
 * key file stops the agent, because a new key would orphan every range the old one owns.
 */
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { asPeerId } from '@weft/ring'
import type { PeerId } from '@weft/ring'
import { IdentityError } from './errors.ts'

export const KEY_FILE = 'node.key'

export interface Identity {
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
}

/** Makes the data directory root-only (0700) if needed, then loads or creates the key (0600). */
export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  await ensurePrivateDir(dataDir)
  const path = join(dataDir, KEY_FILE)
  let bytes: Uint8Array | null = null
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new IdentityError(`cannot read the node key ${path}: ${(err as Error).message}`)
    }
  }
  const privateKey = bytes === null ? await createKey(path) : decodeKey(path, bytes)
  if (bytes !== null && ((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600)
  return { privateKey, peerId: asPeerId(peerIdFromPrivateKey(privateKey).toString()) }
}

/** Creates `dir` (and parents) and restricts it to its owner. */
export async function ensurePrivateDir (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700)
}

function decodeKey (path: string, bytes: Uint8Array): PrivateKey {
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityError(`the node key ${path} is damaged (${(err as Error).message}); restore it from a backup, or remove the data directory to join as a new peer`)
  }
  if (key.type !== 'Ed25519') throw new IdentityError(`the node key ${path} is a ${key.type} key; weft uses Ed25519`)
  return key
}

/** Written to a temporary file, synced, then renamed: a crash leaves either no key or a whole one. */
async function createKey (path: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(privateKeyToProtobuf(key))
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
  return key
}
