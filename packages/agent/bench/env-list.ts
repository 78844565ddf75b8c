/** Extra agent environment as the benches take it from one variable: `K=V,K=V` (a value holds no comma). */
export const envList = (spec: string | undefined): Record<string, string> =>
  Object.fromEntries((spec ?? '').split(',').filter(kv => kv.includes('=')).map(kv => {
    const eq = kv.indexOf('=')
    return [kv.slice(0, eq), kv.slice(eq + 1)]
  }))
