import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The reliability suite runs on its own, one file at a time: `npm run test:reliability`.
    exclude: [...configDefaults.exclude, 'test/reliability/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Process-heavy suites (kill -9 loops, real PM2) compete for two cores; keep parallelism modest.
    maxWorkers: 2,
  },
});
