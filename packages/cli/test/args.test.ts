import { describe, expect, it } from 'vitest'
import { parseArgs, usage, UsageError } from '../src/args.ts'

const parse = (...argv: string[]) => parseArgs(argv, {})

describe('parseArgs', () => {
  it('reads a command, its operand and flags in any position', () => {
    expect(parseArgs(['--json', 'status', 'ipam', '--socket', '/tmp/a.sock'], {})).toEqual({
      command: 'status', operands: ['ipam'], socket: '/tmp/a.sock', json: true, force: false, pool: null, help: false
    })
    expect(parse('status', 'ipam', '--pool', 'lan-v4')).toMatchObject({ command: 'status', pool: 'lan-v4' })
    expect(parse('ps', '--pool=new')).toMatchObject({ command: 'ps', pool: 'new' })
    expect(parse('pool', 'retire', 'old')).toMatchObject({ command: 'pool', operands: ['retire', 'old'] })
    expect(parse('rmpeer', 'node-b', '--socket=/tmp/b.sock')).toMatchObject({ command: 'rmpeer', operands: ['node-b'], socket: '/tmp/b.sock', force: false })
    expect(parse('rmpeer', '--force', 'node-b')).toMatchObject({ command: 'rmpeer', operands: ['node-b'], force: true })
  })

  it('takes the socket from WEFT_SOCKET, else the default', () => {
    expect(parseArgs(['ps'], { WEFT_SOCKET: '/tmp/env.sock' }).socket).toBe('/tmp/env.sock')
    expect(parseArgs(['ps'], { WEFT_SOCKET: '' }).socket).toBe('/run/weft/weft.sock')
    expect(parse('ps').socket).toBe('/run/weft/weft.sock')
    expect(parseArgs(['ps', '--socket', '/tmp/flag.sock'], { WEFT_SOCKET: '/tmp/env.sock' }).socket).toBe('/tmp/flag.sock')
  })

  it('asks for help without checking operands', () => {
    expect(parse('rmpeer', '--help')).toMatchObject({ command: 'rmpeer', help: true })
    expect(parse('-h')).toMatchObject({ command: null, help: true })
  })

  it.each<[string[], string]>([
    [['frob'], 'unknown command "frob"'],
    [['status', 'router'], 'status: unknown argument "router"'],
    [['status', 'ipam', 'x'], 'status: unexpected "x"'],
    [['rmpeer'], 'rmpeer needs an argument'],
    [['ps', 'x'], 'ps: unexpected "x"'],
    [['report', '--json'], 'report does not take --json'],
    [['status', '--force'], 'status does not take --force'],
    [['ps', '--verbose'], 'unknown option --verbose'],
    [['ps', '--socket'], '--socket needs a path'],
    [['ps', '--socket='], '--socket needs a path'],
    [['ps', '--pool'], '--pool needs a pool name'],
    [['ps', '--pool=Lan'], '"Lan" is not a pool name'],
    [['report', '--pool', 'lan'], 'report does not take --pool'],
    [['pool', 'retire'], 'pool needs 2 arguments'],
    [['pool', 'drain', 'lan'], 'pool: unknown operation "drain"'],
    [['pool', 'retire', 'Lan'], '"Lan" is not a pool name']
  ])('rejects %j', (argv, msg) => {
    expect(() => parse(...argv)).toThrow(UsageError)
    expect(() => parse(...argv)).toThrow(msg)
  })

  it('has a usage text for every command', () => {
    expect(usage(null)).toContain('rmpeer <peer|nickname>')
    expect(usage('status')).toContain('weft status [ipam]')
    expect(usage('rmpeer')).toContain('--force  decide alone, without a vote')
  })
})
