import { defineConfig } from 'vitest/config'

// SEGFLOW_TEST_REPORT=path also writes vitest's JSON report there: `.ci/run` reads it to print
// the run's count as the very last line of its log.
const report = process.env.SEGFLOW_TEST_REPORT

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: report ? ['default', 'json'] : ['default'],
    ...(report ? { outputFile: { json: report } } : {}),
  },
})
