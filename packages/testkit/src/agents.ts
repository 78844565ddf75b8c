/**
 * Real agent processes (on 127.0.0.1, or in network namespaces the test made): spawned with an env,
 * waited for on their socket, killed on teardown.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from '@weft/protocol'
import type { Client } from '@weft/protocol'
import { freePort } from './ports.ts'
import { writeSwarmKey } from './swarm-key.ts'
import { makeTempDir, removeTempDir } from './temp.ts'
import { sleep, waitFor } from './wait.ts'

/** The weft command as bin/weft runs it (built by scripts/build-weft.sh), run with the same Node as the tests. */
export const WEFT_BUNDLE = fileURLToPath(new URL('../../../dist/weft.mjs', import.meta.url))
/** The weft command as a node runs it: agents start through it, with the Node flags and malloc setting it ships. */
const WEFT_COMMAND = fileURLToPath(new URL('../../../bin/weft', import.meta.url))

export interface AgentSpec {
  /** Also the nickname. */
  readonly name: string
  /** Extra or overriding environment (IPALLOC_INIT, WEFT_PEERS, ...). */
  readonly env?: Readonly<Record<string, string>>
  /** Reuse a data dir (a restart); otherwise a fresh one under the cluster's dir. */
  readonly dataDir?: string
  /** Reuse a port (a restart keeps the address the others dial). */
  readonly port?: number
  /** Run inside this network namespace (made by the test), listening on `host` there. */
  readonly netns?: string
  /** The IPv4 address to listen on; 127.0.0.1 unless given. */
  readonly host?: string
  /**
   * `fast` (the default) shortens the tick, reconnect and ping intervals so tests run quickly;
   * `production` leaves the agent's own defaults, so at least one suite runs at the shipped timing.
   */
  readonly timing?: 'fast' | 'production'
}

const FAST_TIMING = { WEFT_TICK_MS: '50', WEFT_RECONNECT_MS: '200', WEFT_PING_MS: '1000' }

export interface AgentProcess {
  readonly name: string
  readonly port: number
  /** The multiaddr other agents put in WEFT_PEERS. */
  readonly addr: string
  readonly dataDir: string
  readonly socketPath: string
  readonly client: Client
  readonly child: ChildProcess
  /** Everything the agent wrote (JSON log lines on stdout, anything on stderr). */
  readonly output: string[]
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  readonly exited: Promise<number | string>
}

/**
 * A set of agent processes (on 127.0.0.1, or in network namespaces the test made) sharing one temp
 * dir and one swarm key. `teardown` kills
 * whatever is still running and removes the dir; call it in afterEach/afterAll.
 */
export class Cluster {
  readonly dir: string
  readonly swarmKeyFile: string
  readonly #agents: AgentProcess[] = []

  private constructor (dir: string, swarmKeyFile: string) {
    this.dir = dir
    this.swarmKeyFile = swarmKeyFile
  }

  static async create (label: string): Promise<Cluster> {
    const dir = await makeTempDir(label)
    const swarmKeyFile = join(dir, 'swarm.key')
    await writeSwarmKey(swarmKeyFile)
    return new Cluster(dir, swarmKeyFile)
  }

  get agents (): readonly AgentProcess[] {
    return this.#agents
  }

  /** Spawns an agent; resolves once it answers on its socket (bounded), else kills it and throws with its output. */
  async start (spec: AgentSpec): Promise<AgentProcess> {
    const agent = await this.spawn(spec)
    await waitForSocket(agent)
    return agent
  }

  /** Spawns an agent without waiting for it (for agents expected to fail at start). */
  async spawn (spec: AgentSpec): Promise<AgentProcess> {
    const port = spec.port ?? await freePort()
    const dataDir = spec.dataDir ?? join(this.dir, spec.name)
    await mkdir(dataDir, { recursive: true })
    const socketPath = join(dataDir, 'weft.sock')
    const addr = `/ip4/${spec.host ?? '127.0.0.1'}/tcp/${port}`
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      WEFT_NICKNAME: spec.name,
      WEFT_LISTEN: addr,
      WEFT_DATA_DIR: dataDir,
      WEFT_SOCKET: socketPath,
      WEFT_SWARM_KEY_FILE: this.swarmKeyFile,
      ...(spec.timing === 'production' ? {} : FAST_TIMING),
      WEFT_LOG_LEVEL: 'info',
      ...spec.env
    }
    // `ip netns exec` execs the command in place: the child's pid is the agent's, signals reach it.
    const argv = [...(spec.netns === undefined ? [] : ['ip', 'netns', 'exec', spec.netns]), WEFT_COMMAND, 'agent']
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const output: string[] = []
    const collect = (chunk: Buffer): void => {
      output.push(...chunk.toString('utf8').split('\n').filter(l => l !== ''))
      if (output.length > 5000) output.splice(0, output.length - 5000)
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    const exited = new Promise<number | string>(resolve => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
      // Could not even start (e.g. no `ip` on PATH): say why, and count it as gone.
      child.once('error', (err) => {
        output.push(`cannot start ${argv[0] ?? ''}: ${err.message}`)
        resolve('spawn-error')
      })
    })
    const agent: AgentProcess = {
      name: spec.name,
      port,
      addr,
      dataDir,
      socketPath,
      client: createClient({ socketPath, timeoutMs: 60_000 }),
      child,
      output,
      exited
    }
    this.#agents.push(agent)
    return agent
  }

  /** SIGTERM, then waits (bounded) for the exit; SIGKILL if it does not come. */
  async stop (agent: AgentProcess): Promise<number | string> {
    if (!running(agent)) return await agent.exited
    agent.child.kill('SIGTERM')
    const code = await Promise.race([agent.exited, sleep(20_000).then(() => null)])
    if (code !== null) return code
    agent.child.kill('SIGKILL')
    throw new Error(`${agent.name} did not exit within 20 s of SIGTERM; killed`)
  }

  /** kill -9. */
  async kill (agent: AgentProcess): Promise<void> {
    agent.child.kill('SIGKILL')
    await agent.exited
  }

  async teardown (): Promise<void> {
    for (const a of this.#agents) {
      if (running(a)) a.child.kill('SIGKILL')
    }
    await Promise.all(this.#agents.map(async a => await a.exited))
    this.#agents.length = 0
    await removeTempDir(this.dir)
  }
}

/** The exit code (or signal) of an agent expected to exit by itself; throws if it is still running after `ms`. */
export async function exitOf (agent: AgentProcess, ms = 20_000): Promise<number | string> {
  const code = await Promise.race([agent.exited, sleep(ms).then(() => null)])
  if (code === null) throw new Error(`${agent.name} still running after ${ms} ms\n${agent.output.slice(-20).join('\n')}`)
  return code
}

const running = (agent: AgentProcess): boolean => agent.child.exitCode === null && agent.child.signalCode === null

export async function waitForSocket (agent: AgentProcess, attempts = 200): Promise<void> {
  try {
    await waitFor(`${agent.name} to answer on ${agent.socketPath}`, async () => {
      if (!running(agent)) {
        throw new Error(`exited with ${agent.child.exitCode ?? agent.child.signalCode}`)
      }
      await agent.client.status()
      return true
    }, attempts, 100)
  } catch (err) {
    agent.child.kill('SIGKILL')
    throw new Error(`${(err as Error).message}\n--- ${agent.name} output ---\n${agent.output.slice(-40).join('\n')}`)
  }
}

/**
 * Agents named `names` on loopback, all listed in WEFT_PEERS with consensus=<count>, primed, and waited
 * for until every agent sees every peer reachable and knows its nickname (member records follow the
 * ring by gossip).
 */
export async function startMesh (cluster: Cluster, names: readonly string[], env: Readonly<Record<string, string>>): Promise<AgentProcess[]> {
  const ports = await Promise.all(names.map(async () => await freePort()))
  const shared = { IPALLOC_INIT: `consensus=${names.length}`, WEFT_PEERS: ports.map(p => `127.0.0.1:${p}`).join(','), ...env }
  const agents = await Promise.all(ports.map(async (port, i) => await cluster.start({ name: names[i]!, port, env: shared })))
  await agents[0]!.client.prime()
  const expected = [...names].sort().join()
  await waitFor('every agent to see every named peer reachable', async () => (await Promise.all(agents.map(async a => await a.client.status())))
    .every(s => s.peers.every(p => p.reachable) && s.peers.map(p => p.nickname).sort().join() === expected))
  return agents
}
