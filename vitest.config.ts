import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Process-heavy suites (kill -9 loops, real PM2) compete for two cores; keep parallelism modest.
    maxWorkers: 2,
  },
});
