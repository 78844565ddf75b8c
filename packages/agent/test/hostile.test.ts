import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CODEC_VERSION, OLDEST_SPOKEN, Ring, encodeMessage, parseUniverse } from '@weft/ring/internal'
import type { PeerId } from '@weft/ring'
import { Mesh, MAX_MESSAGE_BYTES } from '../src/mesh.ts'
import { createLogger } from '../src/log.ts'
import { Cluster, freePort, logEvents, onlyAddress, waitFor, writeSwarmKey } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
let target: AgentProcess
beforeAll(async () => {
  cluster = await Cluster.create('hostile')
  target = await cluster.start({ name: 'target', env: { IPALLOC_INIT: 'consensus=1' } })
  await target.client.prime()
})
afterAll(async () => { await cluster.teardown() })

describe('hostile peers', () => {
  it('an agent with another swarm key never becomes a member', async () => {
    const otherKey = join(cluster.dir, 'other.key')
    await writeSwarmKey(otherKey)
    const intruder = await cluster.start({
      name: 'intruder',
      env: { IPALLOC_INIT: 'consensus=2', WEFT_PEERS: target.addr, WEFT_SWARM_KEY_FILE: otherKey, WEFT_LOG_LEVEL: 'debug' }
    })
    // Each fails at the mesh's 30 s handshake bound: bytes under another key are never answered.
    await waitFor('two failed dials by the intruder', () => logEvents(intruder, 'peer-unreachable').length >= 2, 160, 500)
    const [t, i] = await Promise.all([target.client.status(), intruder.client.status()])
    expect(t.connections).toBe(0)
    expect(t.peers.map(p => p.id)).toEqual([t.peer.id])
    expect(i.connections).toBe(0)
    expect(i.status).not.toBe('ready')
    expect(logEvents(intruder, 'peer-connected')).toEqual([])
  })

  it('garbage on the gossip topic and on direct streams is counted and dropped; the agent keeps serving', async () => {
    const { mesh: attacker, targetId } = await joinTarget()
    try {
      attacker.publish(new TextEncoder().encode('not msgpack at all'))
      attacker.publish(Uint8Array.from([0x93, CODEC_VERSION, 0x09, 0xc0])) // msgpack of this version, but no weft message
      attacker.send(targetId, Uint8Array.from([0xde, 0xad, 0xbe, 0xef]))
      attacker.send(targetId, new Uint8Array(MAX_MESSAGE_BYTES + 1))
      await waitFor('four bad messages counted', async () => (await target.client.status()).badMessages >= 4)
      const status = await target.client.status()
      expect(status.badMessages).toBe(4)
      expect(status.connections).toBeGreaterThanOrEqual(1)
      expect(status.status).toBe('ready')
      expect(onlyAddress(await target.client.allocate({ network: 'weft', containerId: 'still-serving', ifname: 'eth0' })).address).toMatch(/^10\./)
      expect(logEvents(target, 'malformed-message')).not.toEqual([])
      expect(logEvents(target, 'unreadable-message')).not.toEqual([])
    } finally {
      await attacker.stop()
    }
  })

  it('a message of a newer codec version (a rolling update) is ignored without blaming its sender', async () => {
    const { mesh: newer, targetId, reachable } = await joinTarget()
    try {
      const bad = (await target.client.status()).badMessages
      // A well-formed ring message, as the next build would frame it: only the version differs.
      const bytes = encodeMessage({ type: 'ring', ring: Ring.empty(parseUniverse('10.32.0.0/12')).toState(), hints: [] })
      bytes[1] = CODEC_VERSION + 1
      newer.publish(bytes)
      newer.send(targetId, bytes)
      await waitFor('the newer sender logged', () => logEvents(target, 'newer-codec').length > 0)
      const status = await target.client.status()
      expect(status.badMessages).toBe(bad)
      expect(logEvents(target, 'newer-codec')).toEqual([
        expect.objectContaining({ version: CODEC_VERSION + 1 })
      ])
      expect(reachable()).toContain(targetId)
      expect(status.status).toBe('ready')
    } finally {
      await newer.stop()
    }
  })

  it('a message of an older codec version (per-token rings) is ignored without blaming its sender', async () => {
    const { mesh: older, targetId, reachable } = await joinTarget()
    try {
      const bad = (await target.client.status()).badMessages
      // A ring message framed as a build before the oldest this one speaks frames it: this build no longer merges its ring.
      const bytes = encodeMessage({ type: 'ring', ring: Ring.empty(parseUniverse('10.32.0.0/12')).toState(), hints: [] })
      bytes[1] = OLDEST_SPOKEN - 1
      older.publish(bytes)
      older.send(targetId, bytes)
      await waitFor('the older sender logged', () => logEvents(target, 'older-codec').length > 0)
      const status = await target.client.status()
      expect(status.badMessages).toBe(bad)
      expect(logEvents(target, 'older-codec')).toEqual([expect.objectContaining({ version: OLDEST_SPOKEN - 1 })])
      expect(reachable()).toContain(targetId)
      expect(status.status).toBe('ready')
    } finally {
      await older.stop()
    }
  })
})

/** A bare mesh node with the cluster's key, joined to the target and seeing it subscribed. */
async function joinTarget (): Promise<{ mesh: Mesh, targetId: PeerId, reachable: () => readonly PeerId[] }> {
  let reachable: readonly PeerId[] = []
  const mesh = await Mesh.start({
    privateKey: await generateKeyPair('Ed25519'),
    listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`],
    peers: [target.addr],
    swarmKey: await readFile(cluster.swarmKeyFile),
    reconnectMs: 100,
    pingMs: 1_000,
    log: createLogger('silent')
  }, { receive: () => 'accept', unreadable: () => undefined, reachable: peers => { reachable = peers } })
  try {
    const targetId = (await target.client.status()).peer.id as PeerId
    await waitFor('the mesh node sees the target subscribed', () => reachable.includes(targetId))
    return { mesh, targetId, reachable: () => reachable }
  } catch (err) {
    await mesh.stop()
    throw err
  }
}
