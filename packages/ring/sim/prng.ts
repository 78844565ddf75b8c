/** A small seeded PRNG (mulberry32): the simulator's only source of randomness, so a seed replays exactly. */
export interface Prng {
  /** Uniform in [0, 1). */
  next (): number
  /** Uniform integer in [0, n). */
  int (n: number): number
  /** True with probability p. */
  chance (p: number): boolean
  pick<T> (xs: readonly T[]): T
}

export function prng (seed: number): Prng {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  return {
    next,
    int,
    chance: p => next() < p,
    pick: xs => {
      if (xs.length === 0) throw new Error('pick from an empty list')
      return xs[int(xs.length)]!
    }
  }
}
