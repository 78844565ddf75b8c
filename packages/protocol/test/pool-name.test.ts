import { describe, expect, it } from 'vitest'
import { DEFAULT_POOL, poolNameProblem } from '../src/index.ts'

describe('pool names', () => {
  it('accepts DNS labels', () => {
    for (const name of [DEFAULT_POOL, 'default-v6', 'lan-v4', 'a', '9', 'p'.repeat(63), 'a-b-1']) expect(poolNameProblem(name), name).toBeNull()
  })

  it.each([
    ['', 'lowercase letters'],
    ['-lan', 'starting and ending'],
    ['lan-', 'starting and ending'],
    ['Lan', 'lowercase letters'],
    ['lan_v4', 'lowercase letters'],
    ['lan.v4', 'lowercase letters'],
    ['p'.repeat(64), 'longer than 63 characters']
  ])('refuses %j, naming it: %s', (value, words) => {
    const problem = poolNameProblem(value)
    expect(problem).toContain(words)
    expect(problem?.startsWith(JSON.stringify(value.slice(0, 80)))).toBe(true)
  })
})
