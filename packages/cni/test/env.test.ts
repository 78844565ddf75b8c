import { describe, expect, it } from 'vitest'
import { CniCode, CniError, parseCniArgs, parseEnv } from '../src/index.ts'
import type { Env } from '../src/index.ts'

const add: Env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }

function codeOf (fn: () => unknown): { code: number, msg: string } {
  try {
    fn()
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, msg: err.message }
    throw err
  }
  throw new Error('expected a CniError')
}

describe('parseEnv', () => {
  it('returns null without CNI_COMMAND (the about line)', () => {
    expect(parseEnv({})).toBeNull()
    expect(parseEnv({ CNI_COMMAND: '' })).toBeNull()
  })

  it('reads an ADD', () => {
    expect(parseEnv(add)).toEqual({
      command: 'ADD', attachment: { containerId: 'c1', ifname: 'eth0' }, netns: '/var/run/netns/x', args: { ips: [] }
    })
  })

  it('rejects an unknown command with 4', () => {
    expect(codeOf(() => parseEnv({ ...add, CNI_COMMAND: 'FROB' }))).toEqual({ code: CniCode.invalidEnv, msg: 'unknown CNI_COMMAND: FROB' })
  })

  it('names every missing variable', () => {
    const e = codeOf(() => parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1' }))
    expect(e).toEqual({ code: 4, msg: 'required env variables [CNI_NETNS,CNI_IFNAME,CNI_PATH] missing' })
  })

  it('lets DEL run without a netns (it may be gone)', () => {
    const inv = parseEnv({ ...add, CNI_COMMAND: 'DEL', CNI_NETNS: undefined })
    expect(inv).toEqual({ command: 'DEL', attachment: { containerId: 'c1', ifname: 'eth0' }, args: { ips: [] } })
  })

  it('needs only CNI_PATH for GC and STATUS, nothing for VERSION', () => {
    expect(parseEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/x' })?.command).toBe('GC')
    expect(parseEnv({ CNI_COMMAND: 'STATUS', CNI_PATH: '/x' })?.command).toBe('STATUS')
    expect(codeOf(() => parseEnv({ CNI_COMMAND: 'STATUS' })).msg).toContain('CNI_PATH')
    expect(parseEnv({ CNI_COMMAND: 'VERSION' })?.command).toBe('VERSION')
  })

  it.each(['-abc', 'a/b', 'a b', 'a:b', 'ü'])('rejects container id %j with 4', (id) => {
    const e = codeOf(() => parseEnv({ ...add, CNI_CONTAINERID: id }))
    expect(e.code).toBe(4)
    expect(e.msg).toContain('CNI_CONTAINERID')
  })

  it.each(['.', '..', 'a/b', 'eth:0', 'eth 0', 'a234567890123456'])('rejects ifname %j with 4', (name) => {
    const e = codeOf(() => parseEnv({ ...add, CNI_IFNAME: name }))
    expect(e.code).toBe(4)
    expect(e.msg).toContain('CNI_IFNAME')
  })

  it('accepts a 15-character ifname and a container id with _ . -', () => {
    expect(parseEnv({ ...add, CNI_IFNAME: 'a23456789012345', CNI_CONTAINERID: 'a_b.c-d' })?.command).toBe('ADD')
  })
})

describe('parseCniArgs', () => {
  it('reads what Kubernetes sends', () => {
    const raw = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u1'
    expect(parseCniArgs(raw)).toEqual({ podNamespace: 'default', podName: 'web-0', ips: [] })
  })

  it('rejects unknown keys unless IgnoreUnknown is true', () => {
    const e = codeOf(() => parseCniArgs('FOO=bar'))
    expect(e).toEqual({ code: 4, msg: 'unknown CNI_ARGS key "FOO"' })
    expect(parseCniArgs('FOO=bar;IgnoreUnknown=true')).toEqual({ ips: [] })
    expect(codeOf(() => parseCniArgs('FOO=bar;IgnoreUnknown=0')).code).toBe(4)
  })

  it('rejects a pair without =', () => {
    expect(codeOf(() => parseCniArgs('K8S_POD_NAME')).msg).toContain('"K8S_POD_NAME"')
    expect(codeOf(() => parseCniArgs('=x')).code).toBe(4)
  })

  it('reads IP= as a comma-separated list and rejects a bad address', () => {
    expect(parseCniArgs('IP=10.0.0.5,fd00::5').ips).toEqual(['10.0.0.5', 'fd00::5'])
    const e = codeOf(() => parseCniArgs('IP=10.0.0.300'))
    expect(e.code).toBe(4)
    expect(e.msg).toContain('CNI_ARGS IP')
  })
})
