/**
 * A LAN of network namespaces for partition tests: one switch namespace holding two bridges (the two
 * sides of a partition), and a host namespace per node wired to it by a veth pair. Moving a node's
 * port to the other bridge keeps its link up while its packets to the far side vanish silently, as in
 * a real partition (no reset, no refusal). Nothing touches the machine's own namespace; `teardown`
 * deletes every namespace, and the links go with them.
 */
import { addNetns, delNetns, must, uniqueName } from '@weft/testkit'

const SIDES = ['br0', 'br1'] as const
export type Side = 0 | 1

export interface LanHost {
  /** The namespace to run the node's processes in. */
  readonly netns: string
  readonly ip: string
}

export class Lan {
  readonly #switch: string
  readonly #subnet: string
  /** Each host's label and its port on the switch. */
  readonly #ports = new Map<string, string>()
  readonly #made: string[] = []

  private constructor (switchNs: string, subnet: string) {
    this.#switch = switchNs
    this.#subnet = subnet
  }

  /** `subnet` is the first three octets of a /24 for the hosts, e.g. "198.18.7". */
  static async create (subnet: string): Promise<Lan> {
    const name = uniqueName('sw')
    const lan = new Lan(name, subnet)
    await addNetns(name)
    lan.#made.push(name)
    try {
      for (const br of SIDES) {
        await must(['ip', '-n', name, 'link', 'add', br, 'type', 'bridge'])
        await must(['ip', '-n', name, 'link', 'set', br, 'up'])
      }
    } catch (err) {
      await lan.teardown()
      throw err
    }
    return lan
  }

  /** A host namespace with address <subnet>.<n>/24, plugged into side 0 (whole LAN) or 1 (split off). */
  async add (label: string, n: number, side: Side = 0): Promise<LanHost> {
    const netns = uniqueName(label)
    await addNetns(netns)
    this.#made.push(netns)
    const port = `p${n}`
    const ip = `${this.#subnet}.${n}`
    await must(['ip', '-n', this.#switch, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns])
    await must(['ip', '-n', this.#switch, 'link', 'set', port, 'master', SIDES[side], 'up'])
    await must(['ip', '-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0'])
    await must(['ip', '-n', netns, 'link', 'set', 'eth0', 'up'])
    await must(['ip', '-n', netns, 'link', 'set', 'lo', 'up'])
    this.#ports.set(label, port)
    return { netns, ip }
  }

  /** Moves `labels` to side 1: they reach each other, and nobody on side 0. */
  async split (...labels: string[]): Promise<void> {
    for (const l of labels) await this.#plug(this.#port(l), 1)
  }

  /** Every host back on side 0. */
  async heal (): Promise<void> {
    for (const port of this.#ports.values()) await this.#plug(port, 0)
  }

  async teardown (): Promise<void> {
    await Promise.all(this.#made.map(async (ns) => await delNetns(ns)))
    this.#made.length = 0
  }

  async #plug (port: string, side: Side): Promise<void> {
    await must(['ip', '-n', this.#switch, 'link', 'set', port, 'master', SIDES[side]])
  }

  #port (label: string): string {
    const port = this.#ports.get(label)
    if (port === undefined) throw new Error(`no host ${label} on this LAN`)
    return port
  }
}
