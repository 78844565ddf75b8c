/**
 * The `kubernetes` Service on a node, as kube-proxy's userspace mode carried it: a listener on the
 * Service address inside the node's network namespace, each connection spliced to the API server's
 * socket for this node. Run as its own process in the node's namespace:
 *   node service-proxy.ts <service ip> <port> <api socket>
 * Prints "listening" once it accepts connections; exits when stdin closes (its parent went away).
 */
import { connect, createServer } from 'node:net'

const [host = '', portText = '', socket = ''] = process.argv.slice(2)
const server = createServer((client) => {
  const upstream = connect(socket)
  client.pipe(upstream).pipe(client)
  const close = (): void => { client.destroy(); upstream.destroy() }
  client.once('error', close).once('close', close)
  upstream.once('error', close).once('close', close)
})
server.once('error', (err) => { process.stderr.write(`service proxy ${host}:${portText}: ${err.message}\n`); process.exit(1) })
server.listen(Number(portText), host, () => process.stdout.write('listening\n'))
process.stdin.resume()
process.stdin.once('end', () => process.exit(0))
