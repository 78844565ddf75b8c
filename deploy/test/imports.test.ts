/**
 * Every `@weft/*` import is declared in the importing workspace package's package.json, so each
 * package's dependencies say what it really uses (and pnpm links exactly those).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The workspace's package folders, as pnpm-workspace.yaml lists them. */
const PACKAGES = [...readdirSync(join(ROOT, 'packages')).map(d => join('packages', d)), 'e2e', 'deploy']
const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)['"](@weft\/[a-z0-9-]+)(?:\/[^'"]*)?['"]/g

interface Manifest { name: string, dependencies?: Record<string, string>, devDependencies?: Record<string, string> }

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    if (e.name === 'node_modules' || e.name.startsWith('.')) return []
    const path = join(dir, e.name)
    if (e.isDirectory()) return sources(path)
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [path] : []
  })
}

/** The `@weft/*` packages each source file of the package imports. */
function imports (pkgDir: string): Array<{ file: string, used: ReadonlySet<string> }> {
  return sources(join(ROOT, pkgDir)).map(file => ({
    file: relative(ROOT, file),
    used: new Set([...readFileSync(file, 'utf8').matchAll(IMPORT)].map(m => m[1] as string))
  }))
}

/** `file: @weft/x` for each import of a package the importing package does not declare. */
function undeclared (pkgDir: string): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, pkgDir, 'package.json'), 'utf8')) as Manifest
  const declared = new Set([manifest.name, ...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})])
  return imports(pkgDir).flatMap(({ file, used }) => [...used].filter(name => !declared.has(name)).map(name => `${file}: ${name}`))
}

const RELATIVE = /(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g

/** `file: specifier` for each relative import that leaves the importing package's folder. */
function crossing (pkgDir: string): string[] {
  const root = join(ROOT, pkgDir)
  return sources(root).flatMap(file => [...readFileSync(file, 'utf8').matchAll(RELATIVE)]
    .map(m => m[1] as string)
    .filter(spec => relative(root, join(dirname(file), spec)).startsWith('..'))
    .map(spec => `${relative(ROOT, file)}: ${spec}`))
}

describe('workspace imports', () => {
  it('finds the packages and what their sources import', () => {
    expect(PACKAGES).toEqual(expect.arrayContaining(['packages/agent', 'packages/ring', 'e2e', 'deploy']))
    const agent = new Set(imports('packages/agent').flatMap(i => [...i.used]))
    expect([...agent].sort()).toEqual(expect.arrayContaining(['@weft/protocol', '@weft/ring', '@weft/routes']))
    expect(imports('packages/ring').flatMap(i => [...i.used])).toEqual([])
  })

  it('declares every @weft/* package it imports', () => {
    expect(PACKAGES.flatMap(undeclared)).toEqual([])
  })

  it('imports no other package\'s files by path (shared test code is @weft/testkit)', () => {
    expect(PACKAGES.flatMap(crossing)).toEqual([])
  })

  it('has the dependencies between packages/* that the README\'s arrows draw', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const arrows = /^Arrows point one way[^:]*:([\s\S]*?)\.\n/m.exec(readme)?.[1]
    expect(arrows, 'the README\'s "Arrows point one way" paragraph').toBeDefined()
    const drawn = new Map<string, string[]>()
    for (const clause of (arrows ?? '').replace(/\([^)]*\)/g, '').split(';')) {
      const [from = '', to = ''] = clause.split('→')
      const names = (side: string): string[] => [...side.matchAll(/`([a-z]+)`/g)].map(m => m[1] as string)
      for (const f of names(from)) drawn.set(f, names(to).sort())
    }
    const actual = new Map(readdirSync(join(ROOT, 'packages')).map(d => {
      const m = JSON.parse(readFileSync(join(ROOT, 'packages', d, 'package.json'), 'utf8')) as Manifest
      // The arrows are what a package needs to run; its tests' devDependencies (testkit) are left out.
      const deps = Object.keys(m.dependencies ?? {}).filter(n => n.startsWith('@weft/')).map(n => n.slice('@weft/'.length))
      return [d, deps.sort()]
    }))
    expect(Object.fromEntries(drawn)).toEqual(Object.fromEntries(actual))
  })
})
