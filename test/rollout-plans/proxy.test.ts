import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildTracker } from '../helpers/child-processes.js';
import { runFailingCanary } from '../helpers/failing-canary.js';
import { waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { countedInMetrics, endSuite, history, planProject, reachedAt, type Received, stepsCommitted, terminalsUnderLoad, webhookReceiver } from '../helpers/rollout-plans.js';
import type { Load } from '../reliability/support/load.js';

/**
 * Progressive rollouts on a real fleet in proxy mode: PM2 under a temp
 * home, the router under that PM2 running the plan, terminals (their own
 * process) logging in, holding WebSocket sessions and sending requests
 * through the router all along, a webhook receiver checking signatures.
 * `deploy --steps --wait` runs as CI would. Build first: the CLI runs dist/.
 */

const SECRET = 'hook-secret-for-the-proxy-suite';
const INTERVAL_MS = 1000;
const FAILURE_LIMIT = 2;
const children = new ChildTracker();
let project: RolloutProject;
let load: Load;
let receiver: Awaited<ReturnType<typeof webhookReceiver>>;

beforeAll(async () => {
  receiver = await webhookReceiver(SECRET);
  project = await planProject({
    prefix: 'sy-plan-proxy-', mode: 'proxy',
    releases: { '1.0.0': 'counting', '1.1.0': 'counting', '1.2.0': 'failing' },
    files: { 'hook.secret': SECRET },
    notify: [{ url: receiver.url, secretFile: 'hook.secret' }],
  });
  load = await terminalsUnderLoad(children, project.routerUrl, project.service, 'proxy');
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await endSuite(children, project);
}, 60_000);

describe('progressive rollouts, proxy mode, under load', () => {
  it('a healthy plan walks its steps under load and promotes: 0 requests failed, within its pauses + an interval a step + 2 s', async () => {
    const before = load.lastTick()!.counters;
    const deploy = await project.cliJson(['deploy', '1.1.0', '--steps', '20:2s,50:2s,100', '--wait'], { timeoutMs: 90_000 });
    expect(deploy.exitCode, deploy.stderr).toBe(0);
    expect(deploy.json).toMatchObject({ ok: true, version: '1.1.0', rollout: { state: 'completed', plan: '20:2s,50:2s,100', step: 3 } });
    const after = load.lastTick()!.counters;
    const revisions = await history(project);
    const id = (await project.policy()).services.lobby.rollout.id;
    const started = Date.parse(deploy.json.rollout.startedAt);
    const wallMs = reachedAt(revisions, 'lobby', id, 'completed')! - started;
    const boundMs = 2000 + 2000 + 3 * INTERVAL_MS + 2000;
    const verdicts = deploy.json.rollout.verdicts.map((v: any) => `${v.verdict} ${v.requests}/${v.errors}`).join(', ');
    console.log(`rollout-plans: healthy proxy plan 20:2s,50:2s,100 (interval 1s): completed ${wallMs} ms after its first step (bound ${boundMs}); requests ${after.requestsOk - before.requestsOk} ok, ${after.requestsFailed - before.requestsFailed} failed meanwhile; last verdicts (requests/errors): ${verdicts}`);
    expect(stepsCommitted(revisions, 'lobby', id)).toEqual([0, 1, 2]);
    expect(wallMs).toBeLessThanOrEqual(boundMs);
    expect(after.requestsFailed - before.requestsFailed).toBe(0);
    expect(after.requestsOk - before.requestsOk).toBeGreaterThan(500);
    expect(deploy.json.rollout.verdicts.at(-1)).toMatchObject({ verdict: 'pass' });
    expect((await project.routerStatus())?.services.lobby.target).toBe('1.1.0');
  }, 120_000);

  it(`a canary failing 30% of its requests is aborted within interval × failureLimit + 3 s of its first traffic; no login is told to change to it afterwards; the deploy exits 1 with the figures`, async () => {
    const run = await runFailingCanary(project, '1.2.0', '1.1.0', countedInMetrics(project, '1.2.0', false));
    const { deploy } = run;
    expect(deploy.exitCode, deploy.stderr).toBe(1);
    expect(deploy.json).toMatchObject({ ok: false, error: 'rollout_aborted', version: '1.2.0', from: '1.1.0' });
    expect(deploy.json.reason).toMatch(/failed intervals at step 1 of 2 \(canary 20%\) reached failureLimit \(2\)/);
    expect(run.fails.length).toBeGreaterThanOrEqual(FAILURE_LIMIT);
    for (const v of deploy.json.verdicts.filter((x: any) => x.verdict === 'fail')) expect(v.errors / v.requests).toBeGreaterThan(0.2);
    const latencyMs = run.abortedAt! - run.firstAt!;
    console.log(`rollout-plans: failing canary (30% errors, proxy): aborted ${latencyMs} ms after its first traffic (bound ${INTERVAL_MS * FAILURE_LIMIT + 3000}); the router served the abort ${run.loadedAt - run.abortedAt!} ms after it was committed; fails: ${run.fails.join(', ')}; probe logins told 1.2.0 before the abort ${run.toldBefore.length}, after ${run.toldAfter.length} of ${run.answeredAfter}`);
    expect(latencyMs).toBeLessThanOrEqual(INTERVAL_MS * FAILURE_LIMIT + 3000);
    expect(run.toldBefore.length).toBeGreaterThan(0);
    expect(run.toldAfter).toEqual([]);
    expect(run.policy.services.lobby).toMatchObject({ target: '1.1.0', canary: null });
    // It drains from the abort on (and may be retired already, its terminals gone).
    expect(run.abortRevision.services.lobby.processes.filter((p: any) => p.version === '1.2.0').map((p: any) => p.state)).toEqual(['draining']);
  }, 120_000);

  it('the webhook receiver got every event, each with a valid signature', async () => {
    const types = (list: Received[]) => list.map((r) => `${r.event.type} ${r.event.version}`);
    const wanted = ['deploy 1.1.0', 'rollout.started 1.1.0', 'rollout.step 1.1.0', 'rollout.completed 1.1.0', 'promote 1.1.0', 'retire 1.0.0', 'deploy 1.2.0', 'rollout.started 1.2.0', 'rollout.aborted 1.2.0'];
    await waitFor('every event at the receiver', () => (wanted.every((w) => types(receiver.received).includes(w)) ? true : undefined), { timeoutMs: 30_000, last: () => types(receiver.received) });
    console.log(`rollout-plans: webhooks received: ${types(receiver.received).join(', ')}`);
    expect(receiver.received.every((r) => r.signed)).toBe(true);
    expect(types(receiver.received).filter((t) => t === 'rollout.step 1.1.0')).toHaveLength(2);
    const aborted = receiver.received.find((r) => r.event.type === 'rollout.aborted')!.event;
    expect(aborted).toMatchObject({ service: 'lobby', version: '1.2.0', from: '1.1.0', step: 1, canary: 0, by: { kind: 'ci' } });
    expect(aborted.metrics).toMatchObject({ verdict: 'fail' });
    expect(new Set(receiver.received.map((r) => r.event.id)).size).toBe(receiver.received.length);
    const metrics = await project.metrics();
    expect(metrics).toMatch(/switchyard_webhook_deliveries_total [1-9]/);
  }, 60_000);
});
