/**
 * The pools an agent serves, from IPALLOC_RANGE and WEFT_POOLS. Pure. Every bad value throws a
 * ConfigError naming the variable, the pool and what was wrong.
 *
 * IPALLOC_RANGE holds one CIDR, or one per family comma-separated: pool `default`, and `default-v6`
 * (or `default-v4` when the first is IPv6). WEFT_POOLS is a JSON array of more pools
 * (`{"name", "range", "reserved"?, "draining"?, "default"?}`), and of settings for IPALLOC_RANGE's
 * pools (the same without `range`).
 */
import { offsetOf, parseUniverse } from '@weft/ring'
import type { Cidr, Range, Universe } from '@weft/ring'
import { DEFAULT_POOL, poolNameProblem } from '@weft/protocol'
import { ConfigError } from './errors.ts'

export const DEFAULT_RANGE = '10.32.0.0/12'

export interface PoolConfig {
  readonly name: string
  readonly range: Cidr
  /** Offsets in the range that no pod ever gets (besides network and broadcast). */
  readonly reserved: readonly Range[]
  /** No new allocations; the pool's holders keep their addresses. */
  readonly draining: boolean
}

export interface PoolsConfig {
  /** IPALLOC_RANGE's pools first, then WEFT_POOLS' in their order. */
  readonly pools: readonly PoolConfig[]
  /** What an allocation that names no pool takes one address from each of: at most one per family. */
  readonly defaults: readonly string[]
}

type Env = Readonly<Record<string, string | undefined>>

const FIELDS = new Set(['name', 'range', 'reserved', 'draining', 'default'])

export function parsePools (env: Env): PoolsConfig {
  const base = parseRanges(env.IPALLOC_RANGE ?? DEFAULT_RANGE)
  const entries = parseEntries(env.WEFT_POOLS)
  const pools = new Map<string, { range: Cidr, reserved: Range[], draining: boolean, default: boolean | undefined }>()
  for (const [name, range] of base) pools.set(name, { range, reserved: [], draining: false, default: undefined })
  entries.forEach((e, i) => {
    const where = `pool ${i} ("${e.name}")`
    const known = pools.get(e.name)
    if (e.range === undefined) {
      if (known === undefined) throw poolError(`${where}: no "range", and IPALLOC_RANGE has no such pool (it has ${[...base.keys()].join(', ')})`)
      if (entries.findIndex(x => x.name === e.name) !== i) throw poolError(`${where}: named twice`)
    } else if (known !== undefined) {
      throw poolError(`${where}: the name is taken (${base.has(e.name) ? `IPALLOC_RANGE's pool, ${known.range}; give settings for it without "range"` : 'named twice'})`)
    }
    const range = e.range ?? known!.range
    const universe = parseUniverse(range)
    pools.set(e.name, { range, reserved: e.reserved.map((r, j) => reservedRange(universe, r, `${where}.reserved[${j}]`)), draining: e.draining, default: e.default })
  })
  checkOverlaps(pools)
  const list = [...pools.entries()].map(([name, p]) => ({ name, range: p.range, reserved: p.reserved, draining: p.draining }))
  return { pools: list, defaults: defaultsOf(pools, base) }
}

/** Pools marked `default` in WEFT_POOLS, else IPALLOC_RANGE's that are not draining; one per family at most. */
function defaultsOf (pools: ReadonlyMap<string, { range: Cidr, draining: boolean, default: boolean | undefined }>, base: ReadonlyMap<string, Cidr>): string[] {
  const marked = [...pools.entries()].filter(([, p]) => p.default === true).map(([name]) => name)
  for (const name of marked) if (pools.get(name)!.draining) throw poolError(`pool "${name}" is both draining and default`)
  const defaults = marked.length > 0 ? marked : [...base.keys()].filter(name => !pools.get(name)!.draining)
  if (defaults.length === 0) throw poolError('every pool of IPALLOC_RANGE is draining and none is marked "default": true; an allocation naming no pool would have nowhere to go')
  const families = new Map<number, string>()
  for (const name of defaults) {
    const family = parseUniverse(pools.get(name)!.range).family
    const other = families.get(family)
    if (other !== undefined) throw poolError(`pools "${other}" and "${name}" are both default and both IPv${family}; a pod gets one address per family`)
    families.set(family, name)
  }
  return defaults
}

/** IPALLOC_RANGE: one CIDR, or one IPv4 and one IPv6 CIDR; named default, then default-v6 or default-v4. */
function parseRanges (value: string): Map<string, Cidr> {
  const parts = value.split(',').map(s => s.trim())
  const expected = `a CIDR such as ${DEFAULT_RANGE}, or one per family such as ${DEFAULT_RANGE},fd00:10:32::/104`
  if (parts.length > 2) throw new ConfigError('IPALLOC_RANGE', value, `${expected} (${parts.length} CIDRs given)`)
  const universes = parts.map(p => {
    try {
      return parseUniverse(p)
    } catch (err) {
      throw new ConfigError('IPALLOC_RANGE', value, `${expected} (${(err as Error).message})`)
    }
  })
  const [first, second] = universes
  if (first === undefined) throw new ConfigError('IPALLOC_RANGE', value, expected)
  const out = new Map<string, Cidr>([[DEFAULT_POOL, first.cidr]])
  if (second === undefined) return out
  if (second.family === first.family) throw new ConfigError('IPALLOC_RANGE', value, `${expected} (both are IPv${first.family}: the second must be of the other family)`)
  out.set(`${DEFAULT_POOL}-v${second.family}`, second.cidr)
  return out
}

interface Entry {
  readonly name: string
  readonly range: Cidr | undefined
  readonly reserved: readonly string[]
  readonly draining: boolean
  readonly default: boolean | undefined
}

function parseEntries (value: string | undefined): Entry[] {
  if (value === undefined || value.trim() === '') return []
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch (err) {
    throw poolError(`not JSON (${(err as Error).message}); expected an array of {"name", "range", "reserved", "draining", "default"}`)
  }
  if (!Array.isArray(parsed)) throw poolError('expected a JSON array of pools')
  return parsed.map((item: unknown, i: number) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw poolError(`pool ${i}: expected an object`)
    const o = item as Record<string, unknown>
    const unknown = Object.keys(o).find(k => !FIELDS.has(k))
    if (unknown !== undefined) throw poolError(`pool ${i}: unknown field "${unknown}" (fields: ${[...FIELDS].join(', ')})`)
    if (typeof o.name !== 'string') throw poolError(`pool ${i}: "name" must be a string`)
    const problem = poolNameProblem(o.name)
    if (problem !== null) throw poolError(`pool ${i}: ${problem}`)
    const where = `pool ${i} ("${o.name}")`
    let range: Cidr | undefined
    if (o.range !== undefined) {
      if (typeof o.range !== 'string') throw poolError(`${where}: "range" must be a CIDR string`)
      try {
        range = parseUniverse(o.range).cidr
      } catch (err) {
        throw poolError(`${where}: ${(err as Error).message}`)
      }
    }
    if (o.reserved !== undefined && (!Array.isArray(o.reserved) || !o.reserved.every(r => typeof r === 'string'))) {
      throw poolError(`${where}: "reserved" must be an array of addresses, CIDRs or first-last ranges`)
    }
    for (const flag of ['draining', 'default'] as const) {
      if (o[flag] !== undefined && typeof o[flag] !== 'boolean') throw poolError(`${where}: "${flag}" must be true or false`)
    }
    return { name: o.name, range, reserved: (o.reserved ?? []) as string[], draining: o.draining === true, default: o.default as boolean | undefined }
  })
}

/** One reserved item: an address, a CIDR or "first-last", all inside the pool's range. */
function reservedRange (u: Universe, text: string, where: string): Range {
  const inside = (address: string): bigint => {
    try {
      return offsetOf(u, address.trim())
    } catch (err) {
      throw poolError(`${where}: ${(err as Error).message}`)
    }
  }
  if (text.includes('/')) {
    let sub: Universe
    try {
      sub = parseUniverse(text)
    } catch (err) {
      throw poolError(`${where}: ${(err as Error).message}`)
    }
    const start = sub.first - u.first
    if (sub.family !== u.family || start < 0n || start + sub.size > u.size) throw poolError(`${where}: ${sub.cidr} is not inside the pool's range ${u.cidr}`)
    return { start, end: start + sub.size }
  }
  const dash = text.indexOf('-')
  if (dash < 0) {
    const o = inside(text)
    return { start: o, end: o + 1n }
  }
  const start = inside(text.slice(0, dash))
  const last = inside(text.slice(dash + 1))
  if (last < start) throw poolError(`${where}: "${text}" ends before it starts`)
  return { start, end: last + 1n }
}

function checkOverlaps (pools: ReadonlyMap<string, { range: Cidr }>): void {
  const list = [...pools.entries()].map(([name, p]) => ({ name, u: parseUniverse(p.range) }))
  for (const [i, a] of list.entries()) {
    for (const b of list.slice(i + 1)) {
      if (a.u.family !== b.u.family) continue
      if (a.u.first < b.u.first + b.u.size && b.u.first < a.u.first + a.u.size) {
        throw poolError(`pools "${a.name}" (${a.u.cidr}) and "${b.name}" (${b.u.cidr}) overlap; an address must belong to one pool`)
      }
    }
  }
}

function poolError (what: string): ConfigError {
  return new ConfigError('WEFT_POOLS', null, what)
}
