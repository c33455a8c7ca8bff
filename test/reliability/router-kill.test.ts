import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChildTracker } from '../helpers/child-processes.js';
import { pidAlive } from '../helpers/pm2-home.js';
import { assertNothingLeft, waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { describeLoad, startLoad, type Tick } from './support/load.js';
import { loadedProject, OLD, report } from './support/project.js';
import { SIZE } from './support/size.js';

/**
 * The router killed with SIGKILL under load: PM2 restarts it; terminals
 * logging in and resolving through the client SDK (with retries) lose
 * nothing; sessions, held straight at the processes in redirect mode, are
 * not touched. Here a retry is expected and accepted (the router is down for
 * a moment, and retrying is how the SDK rides that out), but it is counted
 * and printed beside the first-try successes, never folded into them; and
 * there must be some, or the kills were not felt. The restarted router starts with no tallies: they are
 * complete again once every process's next heartbeat has arrived, which
 * must be within about one heartbeat interval of the router answering.
 */

const HEARTBEAT_MS = 1000;
/** "About one heartbeat interval": the SDK's ±10% jitter, plus polling and a loaded machine's delays. */
const TALLY_BOUND_MS = HEARTBEAT_MS * 1.5;
const children = new ChildTracker();
let project: RolloutProject | undefined;

afterEach(async () => {
  await children.killAll();
  await project?.cleanup();
});

afterAll(async () => {
  await children.killAll();
  await assertNothingLeft();
});

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** The router's pid and restarts from `switchyard router status --json` (PM2's view). */
async function routerPm2(p: RolloutProject): Promise<{ pid: number; restarts: number }> {
  const r = await p.cliJson(['router', 'status']);
  const pm2 = r.json.pm2 as { pid: number; restarts: number; status: string } | null;
  if (pm2 === null || pm2.status !== 'online' || !(pm2.pid > 0)) throw new Error(`PM2 runs no router: ${r.stdout}`);
  p.track(pm2.pid, 'switchyard-router');
  return pm2;
}

async function answering(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) });
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Every live process heard from since the router started, and the tally adds up to the terminals online (± a few arriving or leaving). */
function tallyComplete(status: any, tick: Tick | undefined, service: string): boolean {
  const svc = status?.services?.[service];
  if (svc === undefined || tick === undefined) return false;
  const live = (svc.processes as any[]).filter((p) => p.state === 'active' || p.state === 'draining');
  if (live.length === 0 || live.some((p) => p.heartbeat.stale || p.heartbeat.ageMs === null)) return false;
  const total = (svc.tally as Array<{ terminals: number }>).reduce((n, e) => n + e.terminals, 0);
  return Math.abs(total - tick.onlineTotal) <= Math.max(5, Math.ceil(tick.onlineTotal * 0.1));
}

describe('router killed with SIGKILL under load', () => {
  it(`loses nothing over ${SIZE.routerKills} kills (0 failed; the retries that rode them out counted); the tally is complete within about one heartbeat interval of the router answering`, async () => {
    const started = Date.now();
    project = await loadedProject({ prefix: 'sy-rel-kill-', mode: 'redirect', heartbeatInterval: `${HEARTBEAT_MS}ms`, staleAfter: 3, instances: 2 });
    const p = project;
    const load = await startLoad(children, {
      routerUrl: p.routerUrl,
      service: p.service,
      arriveWith: OLD,
      concurrent: Math.ceil(SIZE.sessions * 1.05),
      sessionMs: SIZE.sessionMs,
      requestEveryMs: SIZE.requestEveryMs,
      mode: 'redirect',
      resolveEvery: 3,
      retries: 8,
      tickMs: 100,
      maxMs: 300_000,
    });
    await load.waitTick(`${SIZE.sessions} sessions open`, (t) => t.onlineTotal >= SIZE.sessions, 60_000);
    await waitFor('the tally to be complete before the first kill', async () => (tallyComplete(await p.routerStatus(), load.lastTick(), p.service) ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 100,
    });

    const kills: Array<{ toAnswerMs: number; toTallyMs: number; onlineAtKill: number }> = [];
    for (let k = 0; k < SIZE.routerKills; k += 1) {
      const before = await routerPm2(p);
      const onlineAtKill = load.lastTick()?.onlineTotal ?? 0;
      process.kill(before.pid, 'SIGKILL');
      const killedAt = Date.now();
      await waitFor('the killed router to be gone', () => (pidAlive(before.pid) ? undefined : true), { timeoutMs: 10_000, intervalMs: 5 });
      await waitFor('the restarted router to answer', async () => ((await answering(p.routerUrl)) ? true : undefined), { timeoutMs: 30_000, intervalMs: 10 });
      const answeredAt = Date.now();
      await waitFor('the tally to be complete again', async () => (tallyComplete(await p.routerStatus(), load.lastTick(), p.service) ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 20,
        last: () => load.lastTick()?.onlineTotal,
      });
      kills.push({ toAnswerMs: answeredAt - killedAt, toTallyMs: Date.now() - answeredAt, onlineAtKill });
      const after = await routerPm2(p);
      expect(after.pid).not.toBe(before.pid);
      expect(after.restarts).toBeGreaterThan(before.restarts);
      // Steady load between kills.
      await sleep(3000);
    }

    const result = await load.finish(90_000);
    const c = result.counters;
    report(
      `router-kill (redirect, ${SIZE.name})`,
      `${kills.length} SIGKILLs of the router, heartbeat interval ${HEARTBEAT_MS} ms; ` +
        kills.map((k, i) => `kill ${i + 1}: kill → answering ${k.toAnswerMs} ms, answering → tally complete ${k.toTallyMs} ms (${k.onlineAtKill} terminals online)`).join('; ') +
        `; ${describeLoad(result)}; whole test ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );

    expect(result.failures).toEqual([]);
    expect(result.finishTimedOut).toBe(false);
    expect(c.requestsFailed).toBe(0);
    expect(c.loginsFailed).toBe(0);
    expect(c.sessionsCutOff).toBe(0);
    // Retries are fine here, but they happened and were counted: calls reached the router while it was down.
    expect(c.requestRetries + c.loginRetries).toBeGreaterThan(0);
    expect(c.requestsAfterRetry + c.loginsAfterRetry).toBeGreaterThan(0);
    expect(c.sessionsCompleted).toBe(c.sessionsOpened);
    expect(result.peakOnline).toBeGreaterThanOrEqual(SIZE.sessions);
    for (const k of kills) expect(k.toTallyMs).toBeLessThanOrEqual(TALLY_BOUND_MS);
  });
});
