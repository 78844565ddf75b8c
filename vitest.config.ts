import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'e2e/test/**/*.test.ts', 'deploy/test/**/*.test.ts'],
    // Agents run the bundled command (dist/weft.mjs): rebuilt here when a source is newer.
    globalSetup: ['scripts/build-for-tests.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Agents, namespaces and the simulator sweep are heavy on a 2-core machine.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1
  }
})
