import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { ChildTracker } from '../helpers/child-processes.js';
import { freePort } from '../helpers/free-port.js';
import { haproxyMissing } from '../helpers/haproxy.js';
import { pidAlive } from '../helpers/pm2-home.js';
import { assertNothingLeft, waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { describeLoad, startLoad } from './support/load.js';
import { loadedProject, NEW, OLD, ok, report, retired } from './support/project.js';
import { SIZE } from './support/size.js';

/**
 * The rollout under load again, with HAProxy as the data plane: terminals
 * log in, resolve, send requests and hold WebSocket sessions through
 * HAProxy's address only, while `deploy 1.1.0 --wait` promotes it and
 * drains and retires 1.0.0. Nothing may fail or be cut off, and every
 * step must reach HAProxy through its runtime API: its worker pid is the
 * same at the end as at the start (no reload, no restart).
 */

const missing = haproxyMissing();
const children = new ChildTracker();
const projects: RolloutProject[] = [];

afterEach(async () => {
  await children.killAll();
  for (const project of projects.splice(0)) await project.cleanup();
});

afterAll(async () => {
  await children.killAll();
  await assertNothingLeft();
});

describe.skipIf(missing)('rollout under load through HAProxy', () => {
  it(`deploys ${NEW} while ${SIZE.sessions} terminals hold sessions through HAProxy: 0 failed, 0 cut off, same worker`, async () => {
    const edgePort = await freePort();
    const project = await loadedProject({
      prefix: 'sy-rel-haproxy-',
      mode: 'proxy',
      heartbeatInterval: '500ms',
      router: { dataPlane: 'haproxy', haproxy: { listen: `127.0.0.1:${edgePort}`, threads: 1 } },
    });
    projects.push(project);
    const api = new RuntimeApi(join(project.stateDir, 'haproxy', 'admin.sock'));
    await waitFor('HAProxy to answer', async () => (await api.workerPid().catch(() => undefined)) ?? undefined, { timeoutMs: 30_000 });
    const worker = await api.workerPid();

    const load = await startLoad(children, {
      routerUrl: `http://127.0.0.1:${edgePort}`,
      service: project.service,
      arriveWith: OLD,
      concurrent: Math.ceil(SIZE.sessions * 1.05),
      sessionMs: SIZE.sessionMs,
      requestEveryMs: SIZE.requestEveryMs,
      mode: 'proxy',
      resolveEvery: 3,
      retries: 3,
      maxMs: 300_000,
    });
    await load.waitTick(`${SIZE.sessions} sessions open`, (t) => t.onlineTotal >= SIZE.sessions, 60_000);
    await new Promise((done) => setTimeout(done, 2000));

    const deploy = await project.cliJson(['deploy', NEW, '--wait', '--timeout', '3m'], { timeoutMs: 240_000 });
    ok(deploy, `switchyard deploy ${NEW} --wait`);
    await waitFor(`${OLD} retired in the policy`, async () => ((await retired(project, OLD)) ? true : undefined), { timeoutMs: 10_000 });
    await new Promise((done) => setTimeout(done, 2000));

    const result = await load.finish(90_000);
    const c = result.counters;
    const status = await project.routerStatus();
    const after = await api.workerPid();
    report('rollout-under-load through HAProxy', `${describeLoad(result)}; HAProxy worker ${worker} before, ${after} after; data plane ${JSON.stringify(status?.dataPlane)}`);

    expect(result.failures).toEqual([]);
    expect(c.requestsFailed).toBe(0);
    expect(c.sessionsCutOff).toBe(0);
    expect(c.loginsFailed).toBe(0);
    expect(c.sessionsCompleted).toBe(c.sessionsOpened);
    expect(c.upgradesFollowed).toBeGreaterThan(0);
    expect(result.peakOnline).toBeGreaterThanOrEqual(SIZE.sessions);
    expect(after).toBe(worker);
    expect(status?.dataPlane).toMatchObject({ kind: 'haproxy', ok: true, generation: status?.generation });

    // `router stop` ends HAProxy with the router.
    const master = Number.parseInt(await readFile(join(project.stateDir, 'haproxy', 'haproxy.pid'), 'utf8'), 10);
    ok(await project.cli(['router', 'stop'], { timeoutMs: 60_000 }), 'switchyard router stop');
    await waitFor('HAProxy to stop with the router', async () => (pidAlive(master) ? undefined : true), { timeoutMs: 20_000 });
  });
});
