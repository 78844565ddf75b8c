import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chmod, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { KEY_FILE, loadOrCreateIdentity } from '../src/identity.ts'
import { IdentityError } from '../src/errors.ts'
import { makeTempDir, removeTempDir } from '@weft/testkit'

let base: string
beforeEach(async () => { base = await makeTempDir('identity') })
afterEach(async () => { await removeTempDir(base) })

describe('node identity', () => {
  it('is created once, root-only, and the same on every load', async () => {
    const dir = join(base, 'data')
    const first = await loadOrCreateIdentity(dir)
    expect(first.peerId).toMatch(/^12D3KooW/)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    expect((await stat(join(dir, KEY_FILE))).mode & 0o777).toBe(0o600)
    const again = await loadOrCreateIdentity(dir)
    expect(again.peerId).toBe(first.peerId)
  })

  it('tightens a key file and a data dir that others could read', async () => {
    const dir = join(base, 'data')
    await loadOrCreateIdentity(dir)
    await chmod(dir, 0o755)
    await chmod(join(dir, KEY_FILE), 0o644)
    await loadOrCreateIdentity(dir)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    expect((await stat(join(dir, KEY_FILE))).mode & 0o777).toBe(0o600)
  })

  it('refuses a damaged key instead of making a new one', async () => {
    const dir = join(base, 'data')
    await loadOrCreateIdentity(dir)
    await writeFile(join(dir, KEY_FILE), 'garbage')
    const err = await loadOrCreateIdentity(dir).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(IdentityError)
    expect((err as Error).message).toContain(join(dir, KEY_FILE))
    expect((err as Error).message).toContain('damaged')
  })
})
