import { defineConfig } from 'vitest/config';

/**
 * The reliability suite (`npm run test:reliability`): real PM2, real routers,
 * real processes under load. One file at a time: each test needs the whole
 * machine (two cores) to itself, and their figures mean nothing when they
 * compete. Size: SWITCHYARD_RELIABILITY_SIZE=small (default) or large.
 */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
