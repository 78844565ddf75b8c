/**
 * A cluster CA and the API server's serving certificate, made with openssl as kubeadm would: the CA
 * goes to every pod as the service account's ca.crt, the certificate names the Service address the
 * pods dial (and the names kube-apiserver answers to).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { must } from '@weft/testkit'

export interface Certs {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

export async function makeCerts (dir: string, ips: readonly string[]): Promise<Certs> {
  const f = (name: string): string => join(dir, name)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await must(['openssl', 'req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=weft-test-cluster-ca'])
  await must(['openssl', 'req', ...ec, '-keyout', f('apiserver.key'), '-out', f('apiserver.csr'), '-subj', '/CN=kube-apiserver'])
  const san = ['DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', ...ips.map((ip) => `IP:${ip}`)].join(',')
  await writeFile(f('apiserver.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`)
  await must(['openssl', 'x509', '-req', '-in', f('apiserver.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', f('apiserver.ext'), '-out', f('apiserver.crt')])
  const [ca, cert, key] = await Promise.all(['ca.crt', 'apiserver.crt', 'apiserver.key'].map(async (n) => await readFile(f(n), 'utf8')))
  return { ca: ca!, cert: cert!, key: key! }
}
