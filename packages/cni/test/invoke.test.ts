import { describe, expect, it } from 'vitest'
import { invoke, SUPPORTED_VERSIONS } from '../src/index.ts'
import type { AgentCalls } from '../src/index.ts'

/** Answers nothing: these invocations must be settled before any agent operation. */
const untouched: AgentCalls = {
  allocate: async () => { throw new Error('allocate called') },
  release: async () => { throw new Error('release called') },
  check: async () => { throw new Error('check called') },
  gc: async () => { throw new Error('gc called') },
  status: async () => { throw new Error('status called') }
}
const add = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }

describe('invoke', () => {
  it('answers VERSION with the supported versions', async () => {
    expect(await invoke({ CNI_COMMAND: 'VERSION' }, '', untouched))
      .toEqual({ exitCode: 0, output: { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] } })
  })

  it('answers bad env and bad config with the spec error, in the config\'s version once it is known', async () => {
    expect(await invoke({}, '', untouched)).toEqual({ exitCode: 1, output: { cniVersion: '1.1.0', code: 4, msg: 'required env variables [CNI_COMMAND] missing' } })
    expect(await invoke({ ...add, CNI_IFNAME: 'a/b' }, '{}', untouched)).toMatchObject({ exitCode: 1, output: { code: 4 } })
    expect(await invoke(add, '{"cniVersion":', untouched)).toMatchObject({ exitCode: 1, output: { cniVersion: '1.1.0', code: 6 } })
    expect(await invoke({ ...add, CNI_COMMAND: 'CHECK' }, '{"cniVersion":"0.3.1","name":"n","ipam":{"type":"weft"}}', untouched))
      .toMatchObject({ exitCode: 1, output: { code: 1 } })
  })

  it('an operation that throws something unexpected is 999 with its message', async () => {
    const broken: AgentCalls = { ...untouched, release: async () => { throw new TypeError('boom') } }
    expect(await invoke({ ...add, CNI_COMMAND: 'DEL' }, '{"cniVersion":"0.4.0","name":"n","ipam":{"type":"weft"}}', broken))
      .toEqual({ exitCode: 1, output: { cniVersion: '0.4.0', code: 999, msg: 'TypeError: boom' } })
  })
})
