import { describe, expect, it } from 'vitest'
import { fieldProblem } from '../src/index.ts'

describe('attachment rules', () => {
  it('accepts what CNI runtimes send', () => {
    for (const [network, containerId, ifname] of [['weft', 'f00dfeed0123', 'eth0'], ['lan.v4_2-b', 'a_b.c-d', 'a23456789012345']] as const) {
      expect([fieldProblem('network', network), fieldProblem('containerId', containerId), fieldProblem('ifname', ifname)]).toEqual([null, null, null])
    }
    expect(fieldProblem('network', 'n'.repeat(253))).toBeNull()
    expect(fieldProblem('containerId', 'c'.repeat(256))).toBeNull()
  })

  it.each([
    ['', 'is not a network name: it must match'],
    ['-net', 'must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$'],
    ['a/b', 'must match'],
    ['a b', 'must match'],
    ['ü', 'must match'],
    ['n'.repeat(254), 'longer than 253 characters']
  ])('refuses network %j: %s', (value, words) => {
    expect(fieldProblem('network', value)).toContain(words)
  })

  it('names the value and the rule for container ids and interfaces', () => {
    expect(fieldProblem('containerId', '-x')).toBe('"-x" is not a container id: it must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$')
    expect(fieldProblem('containerId', 'c'.repeat(257))).toContain('longer than 256 characters')
    expect(fieldProblem('ifname', '')).toBe('"" is not a Linux interface name: empty')
    expect(fieldProblem('ifname', '..')).toContain('must not be "." or ".."')
    expect(fieldProblem('ifname', 'eth:0')).toContain('must not contain "/", ":" or whitespace')
    // IFNAMSIZ counts bytes: eight two-byte characters are 16.
    expect(fieldProblem('ifname', 'éééééééé')).toContain('longer than 15 bytes')
    expect(fieldProblem('ifname', 'et/h0')).toContain('must not contain "/"')
  })

  it('quotes at most 80 characters of a long value', () => {
    expect(fieldProblem('containerId', `-${'x'.repeat(300)}`)?.length).toBeLessThan(200)
  })
})
