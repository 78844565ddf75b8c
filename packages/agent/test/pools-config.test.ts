import { describe, expect, it } from 'vitest'
import { ConfigError } from '../src/errors.ts'
import { parsePools } from '../src/pools-config.ts'

const pools = (env: Record<string, string>): Array<[string, string, boolean]> => parsePools(env).pools.map(p => [p.name, p.range, p.draining])

describe('pools from IPALLOC_RANGE and WEFT_POOLS', () => {
  it('IPALLOC_RANGE: one CIDR is pool default; one per family adds default-v6 (or default-v4), and both are the defaults', () => {
    expect(parsePools({})).toEqual({ pools: [{ name: 'default', range: '10.32.0.0/12', reserved: [], draining: false }], defaults: ['default'] })
    expect(parsePools({ IPALLOC_RANGE: '10.32.0.0/12,fd00:10:32::/104' })).toMatchObject({
      pools: [{ name: 'default', range: '10.32.0.0/12' }, { name: 'default-v6', range: 'fd00:10:32::/104' }],
      defaults: ['default', 'default-v6']
    })
    expect(parsePools({ IPALLOC_RANGE: 'fd00:10:32::/104, 10.32.0.0/12' }).pools.map(p => p.name)).toEqual(['default', 'default-v4'])
  })

  it('WEFT_POOLS adds pools with reserved addresses, and sets draining and default, also for IPALLOC_RANGE\'s pools', () => {
    const c = parsePools({
      IPALLOC_RANGE: '10.32.0.0/12',
      WEFT_POOLS: JSON.stringify([
        { name: 'lan', range: '192.168.1.0/24', reserved: ['192.168.1.1', '192.168.1.200-192.168.1.254', '192.168.1.64/30'] },
        { name: 'new', range: '172.20.0.0/16', default: true },
        { name: 'default', draining: true }
      ])
    })
    expect(c.pools).toEqual([
      { name: 'default', range: '10.32.0.0/12', reserved: [], draining: true },
      { name: 'lan', range: '192.168.1.0/24', reserved: [{ start: 1n, end: 2n }, { start: 200n, end: 255n }, { start: 64n, end: 68n }], draining: false },
      { name: 'new', range: '172.20.0.0/16', reserved: [], draining: false }
    ])
    expect(c.defaults).toEqual(['new'])
    // Without a pool marked default, IPALLOC_RANGE's pools that are not draining are.
    expect(parsePools({ IPALLOC_RANGE: '10.32.0.0/12,fd00::/104', WEFT_POOLS: '[{"name":"default","draining":true}]' }).defaults).toEqual(['default-v6'])
    expect(pools({ WEFT_POOLS: ' ' })).toEqual([['default', '10.32.0.0/12', false]])
  })

  const cases: Array<[string, Record<string, string>, string]> = [
    ['three CIDRs', { IPALLOC_RANGE: '10.0.0.0/8,fd00::/8,fd01::/16' }, '3 CIDRs given'],
    ['two of one family', { IPALLOC_RANGE: '10.0.0.0/8,172.16.0.0/12' }, 'both are IPv4'],
    ['a malformed CIDR in IPALLOC_RANGE', { IPALLOC_RANGE: '10.0.0.0/8,fd00::1/8' }, 'host bits'],
    ['not JSON', { WEFT_POOLS: 'lan=192.168.1.0/24' }, 'not JSON'],
    ['not an array', { WEFT_POOLS: '{"name":"lan"}' }, 'a JSON array'],
    ['not an object', { WEFT_POOLS: '["lan"]' }, 'pool 0: expected an object'],
    ['a bad name', { WEFT_POOLS: '[{"name":"Lan","range":"192.168.1.0/24"}]' }, '"Lan" is not a pool name'],
    ['a missing name', { WEFT_POOLS: '[{"range":"192.168.1.0/24"}]' }, '"name" must be a string'],
    ['an unknown field', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","exclude":[]}]' }, 'unknown field "exclude"'],
    ['a malformed range', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0"}]' }, 'pool 0 ("lan"): "192.168.1.0" is not a CIDR'],
    ['a range that is not a string', { WEFT_POOLS: '[{"name":"lan","range":24}]' }, '"range" must be a CIDR string'],
    ['no range for a pool IPALLOC_RANGE lacks', { WEFT_POOLS: '[{"name":"lan"}]' }, 'no "range", and IPALLOC_RANGE has no such pool'],
    ['a range for an IPALLOC_RANGE pool', { WEFT_POOLS: '[{"name":"default","range":"192.168.1.0/24"}]' }, 'the name is taken (IPALLOC_RANGE\'s pool'],
    ['a name twice', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24"},{"name":"lan","range":"192.168.2.0/24"}]' }, 'named twice'],
    ['settings twice', { WEFT_POOLS: '[{"name":"default"},{"name":"default"}]' }, 'named twice'],
    ['an overlap with IPALLOC_RANGE', { WEFT_POOLS: '[{"name":"inner","range":"10.40.0.0/16"}]' }, 'pools "default" (10.32.0.0/12) and "inner" (10.40.0.0/16) overlap'],
    ['two pools overlapping', { WEFT_POOLS: '[{"name":"a","range":"192.168.0.0/16"},{"name":"b","range":"192.168.1.0/24"}]' }, '"a" (192.168.0.0/16) and "b" (192.168.1.0/24) overlap'],
    ['a reserved address outside its pool', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","reserved":["192.168.2.1"]}]' }, 'reserved[0]: 192.168.2.1 is outside the range 192.168.1.0/24'],
    ['a reserved CIDR outside its pool', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","reserved":["192.168.0.0/23"]}]' }, 'reserved[0]: 192.168.0.0/23 is not inside'],
    ['a reserved address of the other family', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","reserved":["fd00::1"]}]' }, 'is IPv6'],
    ['a reserved range backwards', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","reserved":["192.168.1.9-192.168.1.2"]}]' }, 'ends before it starts'],
    ['reserved not a list of strings', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","reserved":"192.168.1.1"}]' }, '"reserved" must be an array'],
    ['draining not a boolean', { WEFT_POOLS: '[{"name":"default","draining":"yes"}]' }, '"draining" must be true or false'],
    ['draining and default', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","default":true,"draining":true}]' }, 'both draining and default'],
    ['every default pool draining', { WEFT_POOLS: '[{"name":"default","draining":true}]' }, 'nowhere to go'],
    ['two default pools of one family', { WEFT_POOLS: '[{"name":"lan","range":"192.168.1.0/24","default":true},{"name":"default","default":true}]' }, 'both default and both IPv4']
  ]
  it.each(cases)('refuses %s, naming it', (_, env, words) => {
    let caught: unknown
    try {
      parsePools(env)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ConfigError)
    expect((caught as ConfigError).variable).toBe(env.WEFT_POOLS === undefined ? 'IPALLOC_RANGE' : 'WEFT_POOLS')
    expect((caught as Error).message).toContain(words)
  })
})
