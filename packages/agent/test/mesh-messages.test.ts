/**
 * The ring messages an agent counts on /metrics (weft_mesh_messages_total and _bytes_total, by way
 * and kind): two real agents agree on their split by Paxos, so each has both received and sent some.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Cluster, freePort, waitFor } from '@weft/testkit'
import { counters } from '../bench/metrics.ts'

let cluster: Cluster
beforeEach(async () => { cluster = await Cluster.create('mesh-messages') })
afterEach(async () => { await cluster.teardown() })

describe('mesh message counters', () => {
  it('count the Paxos messages each agent received and sent, with their bytes', async () => {
    const ports = await Promise.all([0, 1].map(async () => await freePort()))
    const metricsPorts = await Promise.all([0, 1].map(async () => await freePort()))
    const peers = ports.map(p => `127.0.0.1:${p}`).join(',')
    const agents = await Promise.all(ports.map(async (port, i) => await cluster.start({
      name: `n${i}`,
      port,
      env: { IPALLOC_INIT: 'consensus=2', WEFT_PEERS: peers, WEFT_METRICS_ADDR: `127.0.0.1:${metricsPorts[i]!}` }
    })))
    await agents[0]!.client.prime()
    await waitFor('both agents ready', async () => (await Promise.all(agents.map(async a => await a.client.status()))).every(s => s.status === 'ready'))
    for (const port of metricsPorts) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      const count = counters(text, 'weft_mesh_messages_total')
      const bytes = counters(text, 'weft_mesh_message_bytes_total')
      const received = 'way="received",kind="paxos"'
      const out = ['way="sent",kind="paxos"', 'way="published",kind="paxos"']
      expect(count.get(received)).toBeGreaterThan(0)
      expect(bytes.get(received)).toBeGreaterThan(count.get(received)!)
      expect(out.map(l => count.get(l) ?? 0).reduce((a, b) => a + b)).toBeGreaterThan(0)
      expect(out.map(l => bytes.get(l) ?? 0).reduce((a, b) => a + b)).toBeGreaterThan(0)
    }
  })
})
