/** Mesh ports for agents on loopback or on addresses of namespaces a test made. */
import { createServer } from 'node:net'
import { readFile } from 'node:fs/promises'

/** A TCP port on 127.0.0.1 that was free a moment ago (see freePortOn). */
export async function freePort (): Promise<number> {
  return await freePortOn(['127.0.0.1'])
}

/**
 * A TCP port free on every one of `hosts` a moment ago (agents that share one mesh port, each on its
 * own loopback address, as nodes do). Drawn below the kernel's ephemeral range: a port the kernel
 * handed out for `listen(0)` and got back may next be the local port of some agent's outgoing dial,
 * and the agent given it then fails with EADDRINUSE. Bounded: a few random tries.
 */
export async function freePortOn (hosts: readonly string[]): Promise<number> {
  const freeOn = async (host: string, port: number): Promise<boolean> => await new Promise(resolve => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, host, () => s.close(() => resolve(true)))
  })
  const below = await ephemeralLow()
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = PORT_FLOOR + Math.floor(Math.random() * (below - PORT_FLOOR))
    if (handedOut.has(port)) continue
    if ((await Promise.all(hosts.map(async h => await freeOn(h, port)))).every(Boolean)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error(`no port free on all of ${hosts.join(', ')} after 20 tries`)
}

const PORT_FLOOR = 20_000
/** Ports this process handed out already: a test that has not started its agent yet still owns its port. */
const handedOut = new Set<number>()

/** The low end of the kernel's ephemeral port range (Linux's default if it cannot be read). */
async function ephemeralLow (): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768')
  const low = Number.parseInt(text.trim().split(/\s+/)[0] ?? '', 10)
  return Number.isInteger(low) && low > PORT_FLOOR + 1000 ? low : 32_768
}
