/**
 * The agent's one reading of the Kubernetes Node list: listed at start, then again every interval
 * (jittered, so agents restarted together do not all list at once), until stopped. Peer discovery,
 * init and reclaim all take each full listing from here. A failed listing is logged naming the URL,
 * kept for the status, and retried; it is never handed on as an empty list.
 */
import type { KubeNode } from './kube.ts'
import type { Logger } from './log.ts'

export interface NodeSourceOptions {
  /** The API server, as the status and the log name it. */
  readonly api: string
  readonly list: (signal: AbortSignal) => Promise<KubeNode[]>
  readonly intervalMs: number
  readonly random: () => number
  readonly log: Logger
  /** Every full listing, in order; one at a time (the next listing waits for it). */
  readonly onNodes: (nodes: readonly KubeNode[]) => void | Promise<void>
}

export interface NodeSourceState {
  readonly api: string
  /** Nodes in the last full listing; null before the first. */
  readonly nodes: number | null
  /** Why the last listing failed; null when it did not. */
  readonly error: string | null
}

export interface NodeSource {
  state: () => NodeSourceState
  stop: () => void
}

/** Failures in a row logged at warn: the first, then every this many. */
const LOG_EVERY = 10

export function startNodeSource (o: NodeSourceOptions): NodeSource {
  let nodes: number | null = null
  let error: string | null = null
  let failures = 0
  let timer: NodeJS.Timeout | null = null
  const stopping = new AbortController()

  const pass = async (): Promise<void> => {
    let listed: KubeNode[]
    try {
      listed = await o.list(stopping.signal)
    } catch (err) {
      if (stopping.signal.aborted) return
      failures++
      error = `cannot list nodes at ${o.api}: ${(err as Error).message}`
      if (failures === 1 || failures % LOG_EVERY === 0) o.log.warn({ event: 'kube-api-unreachable', api: o.api, failures, err: (err as Error).message }, 'cannot reach the Kubernetes API; retrying')
      return
    }
    if (failures > 0) o.log.info({ event: 'kube-api-back', api: o.api, failures }, 'the Kubernetes API answers again')
    failures = 0
    error = null
    nodes = listed.length
    await o.onNodes(listed)
  }
  const schedule = (delay: number): void => {
    if (stopping.signal.aborted) return
    timer = setTimeout(() => {
      pass()
        .catch((err: unknown) => { o.log.error({ err }, 'handling the Node list failed') })
        .finally(() => schedule(Math.round(o.intervalMs * (0.5 + o.random()))))
    }, delay)
  }
  schedule(0)
  return {
    state: () => ({ api: o.api, nodes, error }),
    stop: () => {
      stopping.abort()
      if (timer !== null) clearTimeout(timer)
    }
  }
}
