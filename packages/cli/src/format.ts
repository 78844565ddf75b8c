import type { AllocationInfo, PeerLine, PoolStatus, RmpeerResponse, StatusResponse } from '@weft/protocol'

/** Weave's `%-37v`: the width of the peer column, widened so that long peer ids stay aligned. */
const PEER_COLUMN = 37

const field = (label: string, value: string): string => `${label.padStart(15)}: ${value}`

/** `weft status`: Weave's IPAM section. */
export function formatStatus (st: StatusResponse): string {
  const reachable = st.peers.filter((p) => p.reachable).length
  const lines = [
    field('Service', 'ipam'),
    field('Peer', `${st.peer.id}(${st.peer.nickname})`),
    field('Status', st.statusText),
    field('Range', st.range),
    field('Init', st.init),
    field('Peers', `${st.peers.length} (${reachable} reachable, ${st.peers.length - reachable} unreachable)`),
    field('Connections', String(st.connections)),
    field('Allocations', `${st.allocations} (${st.freeLocal} free here)`)
  ]
  if (st.pendingAllocates + st.pendingClaims > 0) {
    lines.push(field('Pending', `${st.pendingAllocates} allocates, ${st.pendingClaims} claims`))
  }
  if (st.kubernetes !== undefined) {
    const k = st.kubernetes
    lines.push(field('Kubernetes', k.error ?? `${k.nodes ?? 0} nodes listed from ${k.api}`))
  }
  if (st.conflicts > 0) lines.push(field('Conflicts', String(st.conflicts)))
  if (st.badMessages > 0) lines.push(field('Bad messages', String(st.badMessages)))
  // Past one pool, the lines above are the first pool's: each pool gets its own line.
  if (st.pools.length > 1) lines.push(...st.pools.map(p => field('Pool', poolLine(p))))
  return lines.join('\n')
}

/** `weft status --pool NAME`: that pool's section. */
export function formatPoolStatus (p: PoolStatus): string {
  const reachable = p.peers.filter((x) => x.reachable).length
  return [
    field('Pool', `${p.pool}${poolNotes(p)}`),
    field('Status', p.statusText),
    field('Range', p.range),
    field('Peers', `${p.peers.length} (${reachable} reachable, ${p.peers.length - reachable} unreachable)`),
    field('Allocations', `${p.allocations} (${p.freeLocal} free here)`),
    ...(p.conflicts > 0 ? [field('Conflicts', String(p.conflicts))] : [])
  ].join('\n')
}

const poolNotes = (p: PoolStatus): string => [p.default ? 'default' : '', p.draining ? 'draining' : ''].filter(n => n !== '').map(n => ` (${n})`).join('')
const poolLine = (p: PoolStatus): string => `${p.pool} ${p.range}: ${p.statusText}; ${p.allocations} allocations (${p.freeLocal} free here)${poolNotes(p)}`

/** `weft status ipam`: per pool, a heading with its name and range, then Weave's lines. */
export function formatPoolsIpam (pools: readonly PoolStatus[]): string {
  return pools.map(p => `${p.pool} ${p.range}${poolNotes(p)}\n${formatIpam(p.peers)}`).join('\n\n')
}

/** Local peer first, then the others by id: the same order on every run. */
export function orderPeers (peers: readonly PeerLine[]): PeerLine[] {
  return [...peers].sort((a, b) => Number(b.local) - Number(a.local) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** Weave's `%04.1f`: one decimal, zero-padded to four characters. */
export const percent = (p: number): string => p.toFixed(1).padStart(4, '0')

/** `weft status ipam`: Weave's `%-37v %8d IPs (%04.1f%% of total) %s`, one line per peer. */
export function formatIpam (peers: readonly PeerLine[]): string {
  const ordered = orderPeers(peers)
  const labels = ordered.map((p) => `${p.id}(${p.nickname})`)
  const width = Math.max(PEER_COLUMN, ...labels.map((l) => l.length))
  return ordered.map((p, i) => {
    const note = p.local ? `(${p.active ?? 0} active)` : p.reachable ? '' : '- unreachable!'
    return `${(labels[i] ?? '').padEnd(width)} ${p.addresses.padStart(8)} IPs (${percent(p.percentage)}% of total) ${note}`.trimEnd()
  }).join('\n')
}

/** Docker's short container id. */
const SHORT_ID = 12

/**
 * `weft ps`: network, pool, container id, interface, address, pod; aligned columns, sorted by network,
 * container and interface (an attachment's pools in the agent's order).
 */
export function formatPs (allocations: readonly AllocationInfo[]): string {
  const rows = [...allocations]
    .sort((a, b) => a.network.localeCompare(b.network) || a.containerId.localeCompare(b.containerId) || a.ifname.localeCompare(b.ifname))
    .map((a) => [
      a.network,
      a.pool,
      a.containerId.slice(0, SHORT_ID),
      a.ifname,
      a.address,
      a.podName === undefined ? '-' : `${a.podNamespace ?? 'default'}/${a.podName}`
    ])
  if (rows.length === 0) return ''
  const last = (rows[0]?.length ?? 1) - 1
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? []
  return rows.map((r) => r.map((cell, c) => c < last ? cell.padEnd(widths[c] ?? 0) : cell).join('  ')).join('\n')
}

/** A removal already completed has no nickname left to show. */
export const formatRmpeer = (r: RmpeerResponse): string => `${r.takenOver} IPs taken over from ${r.peer}${r.nickname === '' ? '' : `(${r.nickname})`}`
