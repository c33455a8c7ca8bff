import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildTracker } from '../helpers/child-processes.js';
import { canaryIds, startLoginProbe } from '../helpers/login-probe.js';
import { waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { endSuite, firstTraffic, history, planProject, reachedAt, terminalsUnderLoad } from '../helpers/rollout-plans.js';
import type { Load } from '../reliability/support/load.js';

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
let load: Load;

beforeAll(async () => {
  project = await planProject({ prefix: 'sy-plan-redirect-', mode: 'redirect', releases: { '1.0.0': 'counting', '1.1.0': 'failing' } });
  load = await terminalsUnderLoad(children, project.routerUrl, project.service, 'redirect');
}, 120_000);

afterAll(async () => {
  await endSuite(children, project);
}, 60_000);

describe('progressive rollouts, redirect mode', () => {
  it('a canary whose heartbeats report 30% errors is aborted within interval × failureLimit + 3 s of its first reported traffic', async () => {
    const probe = startLoginProbe(project.routerUrl, project.service, '1.0.0', canaryIds(20, 40));
    let done = false;
    const first = firstTraffic(project, '1.1.0', true, () => done);
    const deploy = await project.cliJson(['deploy', '1.1.0', '--steps', '20:30s,100', '--wait'], { timeoutMs: 90_000 });
    done = true;
    const firstAt = await first;
    expect(deploy.exitCode, deploy.stderr).toBe(1);
    expect(deploy.json).toMatchObject({ ok: false, error: 'rollout_aborted', version: '1.1.0', from: '1.0.0' });
    const fails = deploy.json.verdicts.filter((v: any) => v.verdict === 'fail');
    expect(fails.length).toBeGreaterThanOrEqual(FAILURE_LIMIT);
    // Heartbeat counters carry no latency.
    for (const v of fails) expect(v).toMatchObject({ p99Ms: null });
    for (const v of fails) expect(v.errors / v.requests).toBeGreaterThan(0.2);

    const policy = await project.policy();
    const abortedAt = reachedAt(await history(project), 'lobby', policy.services.lobby.rollout.id, 'aborted')!;
    const loadedAt = await waitFor('the router to serve the abort', async () => ((await (await fetch(`${project.routerUrl}/healthz`)).json()) as { generation: number }).generation >= policy.generation ? Date.now() : undefined);
    await new Promise((r) => setTimeout(r, 1500));
    await probe.stop();
    const late = probe.answers.filter((a) => a.sentAt > loadedAt && a.told === '1.1.0');
    const latencyMs = abortedAt - firstAt!;
    console.log(`rollout-plans: failing canary (30% errors reported in heartbeats, redirect): aborted ${latencyMs} ms after its first reported traffic (bound ${INTERVAL_MS * FAILURE_LIMIT + 3000}); fails: ${fails.map((v: any) => `${v.errors}/${v.requests}`).join(', ')}; probe logins told 1.1.0 after the abort: ${late.length}`);
    expect(latencyMs).toBeLessThanOrEqual(INTERVAL_MS * FAILURE_LIMIT + 3000);
    expect(late).toEqual([]);
    expect(policy.services.lobby).toMatchObject({ target: '1.0.0', canary: null });
    // The metrics the verdicts read are the processes' own, exported too.
    expect(await project.metrics()).toMatch(/switchyard_reported_requests_total\{service="lobby",version="1\.1\.0",outcome="error"\} [1-9]/);
  }, 120_000);
});
