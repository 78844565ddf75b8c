/**
 * The socket client against a real agent: typed answers, typed errors (agent missing, socket stale,
 * agent frozen, agent gone mid-request, error bodies), the timeout bound.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { AgentTimeoutError, AgentUnavailableError, ApiError, createClient } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, onlyAddress } from '@weft/testkit'
import type { AgentProcess } from '@weft/testkit'

let cluster: Cluster
let agent: AgentProcess

beforeAll(async () => {
  cluster = await Cluster.create('client')
  agent = await cluster.start({ name: 'solo', env: { IPALLOC_RANGE: '10.99.0.0/24', IPALLOC_INIT: 'consensus=1' } })
  await agent.client.prime()
})
afterAll(async () => {
  agent?.child.kill('SIGCONT')
  await cluster?.teardown()
})

async function rejection (p: Promise<unknown>): Promise<Error> {
  return await p.then(() => { throw new Error('expected a rejection') }, (err: Error) => err)
}

describe('client', () => {
  it('speaks every route', async () => {
    const c = agent.client
    const a = onlyAddress(await c.allocate({ network: 'weft', containerId: 'c1', ifname: 'eth0', podNamespace: 'ns', podName: 'p' }))
    expect(a).toMatchObject({ prefixLength: 24, range: '10.99.0.0/24' })
    expect(await c.check({ network: 'weft', containerId: 'c1', ifname: 'eth0' })).toEqual({ addresses: [a] })
    expect((await c.allocations()).allocations).toEqual([expect.objectContaining({ containerId: 'c1', pool: 'default', address: a.address, podName: 'p' })])
    expect((await c.status()).status).toBe('ready')
    expect((await c.report()).allocations).toHaveLength(1)
    expect(await c.gc({ network: 'weft', valid: [{ containerId: 'c1', ifname: 'eth0' }] })).toEqual({ released: [] })
    expect(await c.release({ network: 'weft', containerId: 'c1', ifname: 'eth0' })).toEqual({ released: [a.address] })
    expect(await c.release({ network: 'weft', containerId: 'c1', ifname: 'eth0' })).toEqual({ released: [] })
  })

  it('throws ApiError with the agent\'s code, message and retryable flag', async () => {
    const err = await rejection(agent.client.check({ network: 'weft', containerId: 'nobody', ifname: 'eth0' }))
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ name: 'ApiError', code: 'unknown-attachment', retryable: false })
    const bad = await rejection(agent.client.allocate({ network: 'weft', containerId: '-bad', ifname: 'eth0' }))
    expect(bad).toMatchObject({ name: 'ApiError', code: 'bad-request', status: 400 })
    expect(bad.message).toContain('containerId')
  })

  it('throws AgentUnavailableError naming the socket when nothing is there', async () => {
    const path = join(cluster.dir, 'missing.sock')
    const err = await rejection(createClient({ socketPath: path }).status())
    expect(err).toBeInstanceOf(AgentUnavailableError)
    expect(err.message).toBe(`cannot reach the weft agent at ${path}: no such socket; is the agent running?`)
  })

  it('throws AgentUnavailableError for a stale socket left by a killed process', async () => {
    const path = join(cluster.dir, 'stale.sock')
    // A process that listens on the path and is killed -9 leaves the socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      await new Promise((resolve, reject) => {
        child.stdout.once('data', resolve)
        setTimeout(() => reject(new Error('the listener did not start within 10 s')), 10_000).unref()
      })
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    const err = await rejection(createClient({ socketPath: path }).status())
    expect(err).toMatchObject({ name: 'AgentUnavailableError', errno: 'ECONNREFUSED' })
  })

  it.each([
    ['before answering', ''],
    ['while writing the head', 'HTTP/1.1 200 OK\r\nContent-Le'],
    ['while writing the body', 'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"address":']
  ])('throws AgentUnavailableError when the agent closes the connection %s', async (_, partial) => {
    const path = join(cluster.dir, 'dying.sock')
    // What a client sees when the agent is killed in the middle of a request.
    const server = createServer((socket) => { socket.once('data', () => { socket.end(partial) }) })
    await new Promise<void>((resolve) => server.listen(path, resolve))
    try {
      const err = await rejection(createClient({ socketPath: path }).allocate({ network: 'weft', containerId: 'c9', ifname: 'eth0' }))
      expect(err).toMatchObject({ name: 'AgentUnavailableError', errno: 'EOF' })
      expect(err.message).toBe(`cannot reach the weft agent at ${path}: connection closed before a whole answer; the agent may have stopped`)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('gives up after timeoutMs on an agent that does not answer', async () => {
    agent.child.kill('SIGSTOP')
    try {
      const err = await rejection(createClient({ socketPath: agent.socketPath, timeoutMs: 300 }).status())
      expect(err).toBeInstanceOf(AgentTimeoutError)
      expect(err.message).toBe(`weft agent on ${agent.socketPath} did not answer /v1/status within 300 ms`)
    } finally {
      agent.child.kill('SIGCONT')
    }
    expect((await agent.client.status()).status).toBe('ready')
  })
})
