/**
 * The one mesh between the pools' cores: what it receives goes to the core of the pool it names
 * (pool-frame.ts), the reachable set to every core; what a core sends leaves framed with its pool.
 */
import { CodecVersionError, decodeMessage, encodeMessage, NewerCodecError } from '@weft/ring'
import type { Message, Outbound, PeerId } from '@weft/ring'
import type { Logger } from './log.ts'
import type { Mesh, MeshHandlers } from './mesh.ts'
import type { Metrics } from './metrics.ts'
import type { Pools } from './pool.ts'
import { frameControl, framePool, unframePool } from './pool-frame.ts'
import { decodeRetire, encodeRetire } from './retire-messages.ts'
import type { RetireMessage } from './retire-messages.ts'
import type { Retirement } from './retire.ts'

/** Peers speaking a newer codec, and pools not served here, that are named in the log; more are only counted. */
const MAX_LOGGED = 1_000

/** What the mesh hands the cores: decoded messages to their pool's, the reachable set to every one, through the loops. */
export function meshHandlers (pools: Pools, retirement: Retirement, log: Logger, metrics: Metrics): MeshHandlers {
  // Each newer peer and each pool not served here is logged once, not once per message; bounded, as senders are.
  const newerSenders = new Set<PeerId>()
  const otherPools = new Set<string>()
  return {
    receive: (from, framed) => {
      const unframed = unframePool(framed)
      if (typeof unframed === 'string') {
        metrics.badMessage()
        log.warn({ event: 'malformed-message', from, bytes: framed.length, err: unframed }, 'malformed message ignored')
        return 'reject'
      }
      if (unframed.pool === null) {
        const m = decodeRetire(unframed.message)
        if (typeof m === 'string') {
          metrics.badMessage()
          log.warn({ event: 'malformed-message', from, bytes: framed.length, err: m }, 'malformed message ignored')
          return 'reject'
        }
        retirement.receive(from, m)
        return 'accept'
      }
      const pool = pools.find(unframed.pool)
      if (pool === undefined) {
        retirement.stillSpoken(from, unframed.pool)
        // Another agent serves a pool this one is not configured with (a rolling restart adding it?).
        if (!otherPools.has(unframed.pool) && otherPools.size < MAX_LOGGED) {
          otherPools.add(unframed.pool)
          log.warn({ event: 'pool-not-served', from, pool: unframed.pool }, 'a peer gossips a pool this agent is not configured with: ignored')
        }
        return 'ignore'
      }
      const data = unframed.message
      let msg: Message
      try {
        msg = decodeMessage(data)
      } catch (err) {
        // Another codec version: an agent of the previous or next build during a rolling update.
        if (err instanceof CodecVersionError) {
          const newer = err instanceof NewerCodecError
          if (newer) metrics.newerMessage()
          if (!newerSenders.has(from) && newerSenders.size < MAX_LOGGED) {
            newerSenders.add(from)
            if (newer) log.warn({ event: 'newer-codec', from, version: err.version }, 'a peer speaks a newer codec (a rolling update?): its messages are ignored until this agent is updated')
            else log.warn({ event: 'older-codec', from, version: err.version }, 'a peer speaks an older codec (a rolling update?): its messages are ignored until it is updated')
          }
          return 'ignore'
        }
        metrics.badMessage()
        log.warn({ event: 'malformed-message', from, bytes: data.length, err: (err as Error).message }, 'malformed message ignored')
        return 'reject'
      }
      // The core checks every field of a message against its universe and reports what it refuses
      // as an event; a throw from it is a bug, so the driver stops the agent.
      metrics.message('received', msg.type, data.length)
      pool.driver.input(() => { pool.peer.step(from, msg) })
      return 'accept'
    },
    unreadable: (from, reason) => {
      metrics.badMessage()
      log.warn({ event: 'unreadable-message', from, reason }, 'unreadable direct message ignored')
    },
    reachable: peers => {
      log.info({ reachable: peers.length }, 'reachable peers changed')
      for (const pool of pools.all) pool.driver.input(() => pool.peer.setReachable(peers))
    }
  }
}

/** The agents' own messages about pools, gossiped or direct. */
export function sendRetire (mesh: Mesh, to: PeerId | 'all', m: RetireMessage): void {
  const data = frameControl(encodeRetire(m))
  if (to === 'all') mesh.publish(data)
  else mesh.send(to, data)
}

export function sendOut (mesh: Mesh, metrics: Metrics, pool: string, out: Outbound): void {
  const data = framePool(pool, encodeMessage(out.msg))
  metrics.message(out.to === 'all' ? 'published' : 'sent', out.msg.type, data.length)
  if (out.to === 'all') mesh.publish(data)
  else mesh.send(out.to, data)
}
