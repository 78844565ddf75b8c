import { describe, expect, it } from 'vitest'
import { surplus } from '../src/mesh-links.ts'
import type { LinkFacts } from '../src/mesh-links.ts'

const link = (id: string, direction: LinkFacts['direction'], opened: number): LinkFacts => ({ id, direction, opened })
/** The same connection as the other end sees it. */
const mirrored = (c: LinkFacts, opened: number): LinkFacts => link(c.id, c.direction === 'inbound' ? 'outbound' : 'inbound', opened)

describe('one connection per peer', () => {
  it('keeps what the lower peer id dialled, on both ends alike', () => {
    const lowDialled = link('a', 'outbound', 20)
    const highDialled = link('b', 'inbound', 10)
    // The lower end opened its own dial later; the higher end saw them in the other order.
    expect(surplus(true, [lowDialled, highDialled])).toEqual(['b'])
    expect(surplus(false, [mirrored(lowDialled, 5), mirrored(highDialled, 30)])).toEqual(['b'])
  })

  it('keeps the oldest of two the lower id dialled, and everything when it dialled none', () => {
    expect(surplus(true, [link('new', 'outbound', 9), link('old', 'outbound', 3), link('in', 'inbound', 1)]).sort()).toEqual(['in', 'new'])
    expect(surplus(true, [link('x', 'inbound', 1), link('y', 'inbound', 2)])).toEqual([])
    expect(surplus(false, [link('only', 'outbound', 1)])).toEqual([])
  })
})
