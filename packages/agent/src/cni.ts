/**
 * POST /v1/cni: a CNI invocation forwarded by the plugin on the host, run by @weft/cni with this
 * agent's operations in process. Each operation is bounded so that the answer reaches the plugin
 * before its deadline, with the agent's reason rather than the plugin's "did not answer".
 */
import { performance } from 'node:perf_hooks'
import { invoke } from '@weft/cni'
import type { AgentCalls } from '@weft/cni'
import { ApiError } from '@weft/protocol'
import type { CniRequest, CniResponse } from '@weft/protocol'
import type { AgentOps } from './api.ts'
import { RequestError } from './errors.ts'
import { checkAllocate, checkAttachment, checkGc } from './validate.ts'

/** The part of the plugin's wait left for the answer's way back: a tenth, at most a second. */
const margin = (deadlineMs: number): number => Math.min(1_000, deadlineMs / 10)

export async function runCni (ops: AgentOps, req: CniRequest): Promise<CniResponse> {
  const until = req.deadlineMs === undefined ? Infinity : performance.now() + req.deadlineMs - margin(req.deadlineMs)
  return await invoke(req.env, req.stdin, inProcess(ops, () => Math.max(1, until - performance.now())))
}

/** The agent's operations as the CNI library calls them: checked as the socket routes check them. */
function inProcess (ops: AgentOps, left: () => number): AgentCalls {
  return {
    allocate: async req => await asRoute(async () => await ops.allocate(checkAllocate(req, ops.pools), left())),
    release: async a => await asRoute(async () => await ops.release(checkAttachment(a), left())),
    check: async a => await asRoute(async () => ops.check(checkAttachment(a))),
    gc: async req => await asRoute(async () => await ops.gc(checkGc(req), left())),
    status: async () => ops.status()
  }
}

/** A request the socket would answer 400 to fails the same way here. */
async function asRoute<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw err instanceof RequestError ? new ApiError(400, 'bad-request', err.message) : err
  }
}
