import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChildTracker } from '../helpers/child-processes.js';
import { assertNothingLeft, trackedPidCount, waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { callsSent, describeLoad, startLoad } from './support/load.js';
import { loadedProject, NEW, OLD, ok, report, retired } from './support/project.js';
import { SIZE } from './support/size.js';

/**
 * DESIGN.md's first "done" line, on a real fleet: under constant load
 * (terminals logging in through the client SDK, holding WebSocket sessions,
 * sending requests and resolves), `deploy 1.1.0` → promote → drain → retire
 * of 1.0.0 loses no request and cuts off no session. The router is never
 * down here, so no call may need a retry either: every request (to the
 * existing sessions' processes and resolves at the router) and every login
 * must succeed on its first try, and the SDK's retries are counted to prove
 * it. The load runs in a
 * child process of its own (fixtures/load-generator.mjs), bounded in time;
 * the rollout runs through the CLI, as an operator would run it.
 */

const MIN_RATE = 200;
const children = new ChildTracker();
const projects: RolloutProject[] = [];

afterEach(async () => {
  await children.killAll();
  for (const project of projects.splice(0)) await project.cleanup();
});

afterAll(async () => {
  await children.killAll();
  expect(trackedPidCount()).toBeGreaterThan(0);
  await assertNothingLeft();
});

describe.each(['redirect', 'proxy'] as const)('rollout under load, %s mode', (mode) => {
  it(`deploys ${NEW} while ${SIZE.sessions} terminals hold sessions: all first-try (0 retries, 0 failed), 0 cut off, ${OLD} retired`, async () => {
    const started = Date.now();
    const project = await loadedProject({ prefix: `sy-rel-rollout-${mode}-`, mode, heartbeatInterval: '500ms' });
    projects.push(project);

    const load = await startLoad(children, {
      routerUrl: project.routerUrl,
      service: project.service,
      arriveWith: OLD,
      // A few more terminals than sessions: some are always between sessions (logging in).
      concurrent: Math.ceil(SIZE.sessions * 1.05),
      sessionMs: SIZE.sessionMs,
      requestEveryMs: SIZE.requestEveryMs,
      mode,
      resolveEvery: 3,
      retries: 3,
      maxMs: 300_000,
    });
    await load.waitTick(`${SIZE.sessions} sessions open`, (t) => t.onlineTotal >= SIZE.sessions, 60_000);
    // Let it run steadily for a couple of seconds before the rollout.
    await new Promise((done) => setTimeout(done, 2000));

    const deployStarted = Date.now();
    const deploy = await project.cliJson(['deploy', NEW, '--wait', '--timeout', '3m'], { timeoutMs: 240_000 });
    ok(deploy, `switchyard deploy ${NEW} --wait`);
    const retiredAfterMs = Date.now() - deployStarted;
    expect(deploy.json).toMatchObject({ ok: true, version: NEW, promoted: true, previousTarget: OLD });
    await waitFor(`${OLD} retired in the policy`, async () => ((await retired(project, OLD)) ? true : undefined), { timeoutMs: 10_000 });
    const afterRetire = load.lastTick();
    // New terminals keep arriving on the new version for a while after the retire.
    await new Promise((done) => setTimeout(done, 2000));

    const result = await load.finish(90_000);
    const c = result.counters;
    const status = await project.routerStatus();
    const metrics = await project.metrics();
    report(
      `rollout-under-load (${mode}, ${SIZE.name})`,
      `${describeLoad(result)}; deploy ${NEW} (start, ready, promote) ${(deploy.json.elapsedMs / 1000).toFixed(1)} s, ` +
        `then drain → retire of ${OLD} ${(deploy.json.retiredAfterMs / 1000).toFixed(1)} s; ${OLD} retired ${(retiredAfterMs / 1000).toFixed(1)} s after the deploy started; ` +
        `terminals online on ${OLD} at the retire: ${afterRetire?.online[OLD] ?? 0}; whole test ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );

    expect(result.failures).toEqual([]);
    expect(result.finishTimedOut).toBe(false);
    expect(c.requestsFailed).toBe(0);
    expect(c.sessionsCutOff).toBe(0);
    expect(c.loginsFailed).toBe(0);
    // Not one retry: a success after a retry would be a blip the rollout caused.
    expect({ requestRetries: c.requestRetries, loginRetries: c.loginRetries, retried: result.retried }).toEqual({ requestRetries: 0, loginRetries: 0, retried: [] });
    expect(c.requestsFirstTry).toBe(c.requestsOk);
    expect(c.loginsFirstTry).toBe(c.loginsOk);
    expect(await retired(project, OLD)).toBe(true);
    expect(metrics).not.toMatch(/switchyard_drain_terminals_cut_off_total\{[^}]*\} [1-9]/);
    expect(status?.services[project.service]?.target).toBe(NEW);
    // The load was real: the sessions held, the rate kept, the upgrade followed by the terminals.
    expect(result.peakOnline).toBeGreaterThanOrEqual(SIZE.sessions);
    expect(result.ratePerS).toBeGreaterThanOrEqual(MIN_RATE);
    expect(callsSent(result.callsDuringLoad)).toBeGreaterThanOrEqual(MIN_RATE * (result.loadMs / 1000) - 1);
    expect(c.upgradesFollowed).toBeGreaterThan(0);
    expect(c.sessionsCompleted).toBe(c.sessionsOpened);
    expect(afterRetire?.online[OLD] ?? 0).toBe(0);
  });
});
