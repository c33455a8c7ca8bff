import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildTracker } from '../helpers/child-processes.js';
import { runFailingCanary } from '../helpers/failing-canary.js';
import type { RolloutProject } from '../helpers/rollout-project.js';
import { countedInMetrics, endSuite, planProject, terminalsUnderLoad } from '../helpers/rollout-plans.js';

/**
 * Redirect mode: terminals talk to their process directly, so the router
 * sees none of their requests. The processes count them and report the
 * counters in their heartbeats (the heartbeat SDK's `metrics`); a canary
 * whose own counters say it fails 30% of its requests is aborted from
 * those figures alone.
 */

const INTERVAL_MS = 1000;
const FAILURE_LIMIT = 2;
const children = new ChildTracker();
let project: RolloutProject;

beforeAll(async () => {
  project = await planProject({ prefix: 'sy-plan-redirect-', mode: 'redirect', releases: { '1.0.0': 'counting', '1.1.0': 'failing' } });
  await terminalsUnderLoad(children, project.routerUrl, project.service, 'redirect');
}, 120_000);

afterAll(async () => {
  await endSuite(children, project);
}, 60_000);

describe('progressive rollouts, redirect mode', () => {
  it('a canary whose heartbeats report 30% errors is aborted within interval × failureLimit + 3 s of its first reported traffic', async () => {
    const run = await runFailingCanary(project, '1.1.0', '1.0.0', countedInMetrics(project, '1.1.0', true));
    const { deploy } = run;
    expect(deploy.exitCode, deploy.stderr).toBe(1);
    expect(deploy.json).toMatchObject({ ok: false, error: 'rollout_aborted', version: '1.1.0', from: '1.0.0' });
    const fails = deploy.json.verdicts.filter((v: any) => v.verdict === 'fail');
    expect(fails.length).toBeGreaterThanOrEqual(FAILURE_LIMIT);
    for (const v of fails) {
      // Heartbeat counters carry no latency.
      expect(v).toMatchObject({ p99Ms: null });
      expect(v.errors / v.requests).toBeGreaterThan(0.2);
    }
    const latencyMs = run.abortedAt! - run.firstAt!;
    console.log(`rollout-plans: failing canary (30% errors reported in heartbeats, redirect): aborted ${latencyMs} ms after its first reported traffic (bound ${INTERVAL_MS * FAILURE_LIMIT + 3000}); fails: ${run.fails.join(', ')}; probe logins told 1.1.0 after the abort: ${run.toldAfter.length} of ${run.answeredAfter}`);
    expect(latencyMs).toBeLessThanOrEqual(INTERVAL_MS * FAILURE_LIMIT + 3000);
    expect(run.toldAfter).toEqual([]);
    expect(run.policy.services.lobby).toMatchObject({ target: '1.0.0', canary: null });
    // The metrics the verdicts read are the processes' own, exported too.
    expect(await project.metrics()).toMatch(/switchyard_reported_requests_total\{service="lobby",version="1\.1\.0",outcome="error"\} [1-9]/);
  }, 120_000);
});
