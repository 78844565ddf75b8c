/**
 * Bundles the weft command (src/main.ts, the agent with it) into one plain-JS file, so the agent
 * starts without Node stripping TypeScript types from hundreds of modules at load, and without
 * resolving a module graph file by file. `level` stays outside: its native binding is found next to
 * its own package, so the bundle imports it by a path relative to itself.
 * Usage: node build/bundle.ts <outfile>
 */
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { Plugin } from 'esbuild'

const cliDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const outfile = resolve(process.argv[2] ?? '')
if (process.argv[2] === undefined) throw new Error('usage: node build/bundle.ts <outfile>')

/** Packages loaded from node_modules at run time, by a path relative to the bundle. */
const EXTERNAL = /^level$/

const RESOLVING = Symbol('resolving')

const externalByRelativePath: Plugin = {
  name: 'external-by-relative-path',
  setup (b) {
    b.onResolve({ filter: EXTERNAL }, async args => {
      // The inner resolve comes back through this hook: let esbuild's own resolver answer it.
      if (args.pluginData === RESOLVING) return undefined
      const found = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: RESOLVING })
      if (found.errors.length > 0) return { errors: found.errors }
      const path = relative(dirname(outfile), found.path)
      return { path: path.startsWith('.') ? path : `./${path}`, external: true }
    })
  }
}

await build({
  entryPoints: [resolve(cliDir, 'src/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  // CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __weftCreateRequire } from 'node:module'; const require = __weftCreateRequire(import.meta.url);" },
  // V8 keeps a script's source in memory for as long as it runs: without comments and indentation it
  // is half the size, and pure ASCII (one byte per character). Names are kept, so stacks stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  plugins: [externalByRelativePath],
  // For CPU profiles by source file (packages/agent/bench/mesh-idle.ts): <outfile>.map, not named in the bundle.
  sourcemap: process.env.WEFT_SOURCEMAP === '1' ? 'external' : false,
  logLevel: 'warning'
})
