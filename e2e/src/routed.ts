/**
 * Two subnets joined by a router namespace, so the hosts on one have no L2 adjacency with those on the
 * other: subnet 0 is <prefix0>.0/24, subnet 1 <prefix1>.0/24, the router .254 on both and forwarding.
 * Every namespace is the test's own; `teardown` deletes them all.
 */
import { addNetns, delNetns, must, uniqueName } from '@weft/testkit'
import type { LanHost } from './lan.ts'

export class RoutedNet {
  readonly #router: string
  readonly #prefixes: readonly [string, string]
  readonly #made: string[] = []
  #ports = 0

  private constructor (router: string, prefixes: readonly [string, string]) {
    this.#router = router
    this.#prefixes = prefixes
  }

  /** `prefixes`: the first three octets of each subnet, e.g. ["198.18.71", "198.18.72"]. */
  static async create (prefixes: readonly [string, string]): Promise<RoutedNet> {
    const net = new RoutedNet(uniqueName('rtr'), prefixes)
    await addNetns(net.#router)
    net.#made.push(net.#router)
    try {
      for (const [i, prefix] of prefixes.entries()) {
        await must(['ip', '-n', net.#router, 'link', 'add', `br${i}`, 'type', 'bridge'])
        await must(['ip', '-n', net.#router, 'addr', 'add', `${prefix}.254/24`, 'dev', `br${i}`])
        await must(['ip', '-n', net.#router, 'link', 'set', `br${i}`, 'up'])
      }
      await must(['ip', 'netns', 'exec', net.#router, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'])
    } catch (err) {
      await net.teardown()
      throw err
    }
    return net
  }

  /** A host with address <prefix>.<n>/24 on subnet `side`, its default route via the router. */
  async add (label: string, side: 0 | 1, n: number): Promise<LanHost> {
    const netns = uniqueName(label)
    await addNetns(netns)
    this.#made.push(netns)
    const port = `p${this.#ports++}`
    const ip = `${this.#prefixes[side]}.${n}`
    await must(['ip', '-n', this.#router, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns])
    await must(['ip', '-n', this.#router, 'link', 'set', port, 'master', `br${side}`, 'up'])
    await must(['ip', '-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
    await must(['ip', '-n', netns, 'link', 'set', 'eth0', 'up'])
    await must(['ip', '-n', netns, 'link', 'set', 'lo', 'up'])
    await must(['ip', '-n', netns, 'route', 'add', 'default', 'via', `${this.#prefixes[side]}.254`])
    return { netns, ip }
  }

  async teardown (): Promise<void> {
    await Promise.all(this.#made.map(async (ns) => await delNetns(ns)))
    this.#made.length = 0
  }
}
