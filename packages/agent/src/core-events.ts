/** The core's events as log lines, each with a stable `event` field (tests and operators read it). */
import { formatRange } from '@weft/ring'
import type { CoreEvent, Universe } from '@weft/ring'
import type { Logger } from './log.ts'

export function logEvent (log: Logger, u: Universe, e: CoreEvent): void {
  switch (e.kind) {
    case 'conflict':
      log.warn({ event: e.kind, token: e.token.toString(), version: e.version, localOwner: e.localOwner, remoteOwner: e.remoteOwner, from: e.from }, 'ring conflict: rejected an entry that would hand away allocated addresses')
      return
    case 'rejected-ring': log.warn({ event: e.kind, from: e.from, reason: e.reason }, 'rejected a ring'); return
    case 'initialised': log.info({ event: e.kind, seeds: e.seeds }, 'ring initialised'); return
    case 'space-received': log.info({ event: e.kind, from: e.from, range: formatRange(u, e.range) }, 'received space'); return
    case 'space-given': log.info({ event: e.kind, to: e.to, range: formatRange(u, e.range) }, 'gave space'); return
    case 'takeover': log.warn({ event: e.kind, peer: e.peer, heir: e.heir }, 'peer taken over'); return
    case 'removed-self': log.error({ event: e.kind, heir: e.heir }, 'this peer was removed from the ring')
  }
}
