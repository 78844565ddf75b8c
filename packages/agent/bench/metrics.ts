/**
 * What the agent benches read of the agent's answers: a percentile of a sorted sample, and a
 * histogram's or counter's series from its /metrics text.
 */

export function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
}

/** One series of a histogram from the agent's /metrics: count, sum (s), and count per bucket bound. */
export interface Histogram { readonly count: number, readonly sum: number, readonly buckets: ReadonlyMap<string, number> }

export async function scrape (metricsPort: number): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
}

/** The series of histogram `name` whose one label is `label`; the label comes after `le` in a bucket line. */
export function histogram (text: string, name: string, label: string): Histogram {
  const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0)
  const buckets = new Map<string, number>()
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)",${label}\\} (\\d+)$`, 'gm'))) buckets.set(m[1]!, Number(m[2]))
  return {
    count: value(new RegExp(`^${name}_count\\{${label}\\} (\\d+)$`, 'm')),
    sum: value(new RegExp(`^${name}_sum\\{${label}\\} ([\\d.e+-]+)$`, 'm')),
    buckets
  }
}

/** Every series of counter `name` from /metrics text, by its labels as written (`way="sent",kind="digest"`). */
export function counters (text: string, name: string): Map<string, number> {
  const series = new Map<string, number>()
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([\\d.e+-]+)$`, 'gm'))) series.set(m[1]!, Number(m[2]))
  return series
}
