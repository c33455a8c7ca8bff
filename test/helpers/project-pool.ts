import { expect } from 'vitest';
import { assertNothingLeft, makeRolloutProject, type RolloutProject, type RolloutProjectOptions } from './rollout-project.js';

/**
 * The rollout projects of one test file, cleaned up together at its end
 * (every PM2 daemon and process they started, then a check that nothing is
 * left), and the two steps most tests begin with.
 *
 *   const pool = projectPool();
 *   afterAll(() => pool.cleanupAll(), 120_000);
 */
export function projectPool(): { make(opts: RolloutProjectOptions): Promise<RolloutProject>; cleanupAll(): Promise<void> } {
  const projects: RolloutProject[] = [];
  return {
    async make(opts) {
      const made = await makeRolloutProject(opts);
      projects.push(made);
      return made;
    },
    async cleanupAll() {
      const results = await Promise.allSettled(projects.map((p) => p.cleanup()));
      await assertNothingLeft();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
}

/** `switchyard router start`, which must succeed. */
export async function routerStart(p: RolloutProject): Promise<void> {
  const started = await p.cli(['router', 'start']);
  expect(started.exitCode, started.stderr).toBe(0);
}

/** `switchyard deploy <version> --json`, which must succeed; its JSON result. */
export async function deployOk(p: RolloutProject, version: string, ...flags: string[]): Promise<any> {
  const result = await p.cliJson(['deploy', version, ...flags]);
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json;
}
