import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidAlive } from '../helpers/pm2-home.js';
import { assertNothingLeft, makeRolloutProject, trackedPidCount, waitFor, type RolloutProject } from '../helpers/rollout-project.js';
import { resolveVersion, Terminal } from '../helpers/rollout-terminals.js';

/**
 * The whole story on a real fleet: PM2 under a temp PM2_HOME, the router
 * under that PM2, the sample service in two versions, terminals holding
 * WebSocket sessions. deploy 1.0.0 → terminals log in → deploy 1.1.0 (the
 * target moves) → old terminals keep their sessions on 1.0.0, new logins of
 * 1.0.0 are told to upgrade → the old terminals leave → the router's drain
 * controller stops and retires 1.0.0 → history tells every step.
 * Build first (`npm run build`): the CLI runs dist/.
 */

const N = 5;
const OLD = '1.0.0';
const NEW = '1.1.0';

let project: RolloutProject;
const terminals: Terminal[] = [];

beforeAll(async () => {
  project = await makeRolloutProject({ versions: [OLD, NEW], prefix: 'sy-story-' });
});

afterAll(async () => {
  for (const t of terminals) t.terminate();
  try {
    await project?.cleanup();
  } finally {
    expect(trackedPidCount()).toBeGreaterThan(0);
    await assertNothingLeft();
  }
});

/** The router's status entry for a process of a version (its last one). */
async function processStatus(version: string): Promise<any | undefined> {
  const status = await project.routerStatus();
  return status?.services[project.service]?.processes.filter((p: any) => p.version === version).at(-1);
}

describe('rollout story: deploy, promote, drain, retire', () => {
  it('runs the whole rollout with terminals holding sessions, and cuts none off', async () => {
    const { service, routerUrl } = project;

    // --- the router under PM2, then the first version
    const routerStart = await project.cli(['router', 'start']);
    expect(routerStart.exitCode, routerStart.stderr).toBe(0);
    expect(project.daemonPid()).toBeDefined();

    const first = await project.cliJson(['deploy', OLD]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.json).toMatchObject({ ok: true, version: OLD, promoted: true, previousTarget: null });

    // --- N terminals on 1.0.0 log in, hold sessions, send messages and requests
    for (let i = 0; i < N; i++) terminals.push(new Terminal(routerUrl, service, `t-old-${i}`, OLD));
    for (const t of terminals) {
      const answer = await t.login();
      expect(answer).toMatchObject({ action: 'connect', version: OLD });
      await t.connect();
    }
    for (const t of terminals) {
      expect((await t.echo(`hello from ${t.id}`)).version).toBe(OLD);
      expect((await t.request()).version).toBe(OLD);
    }
    const oldPid = await waitFor('1.0.0 to report its terminals', async () => {
      const p = await processStatus(OLD);
      return p?.terminals === N && p.heartbeat.stale === false && p.pm2?.pid > 0 ? (p.pm2.pid as number) : undefined;
    });
    project.track(oldPid, `${service}@${OLD}#0`);

    // --- deploy 1.1.0 (promoted): time until the router resolves it
    let answeredAt: number | undefined;
    let polling = true;
    const started = performance.now();
    const poller = (async () => {
      while (polling) {
        const r = await resolveVersion(routerUrl, service, NEW).catch(() => undefined);
        if (r?.status === 200) {
          answeredAt = performance.now();
          return;
        }
        await new Promise((done) => setTimeout(done, 5));
      }
    })();
    const second = await project.cliJson(['deploy', NEW]);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.json).toMatchObject({ ok: true, version: NEW, promoted: true, previousTarget: OLD });
    await waitFor('the router to resolve 1.1.0', () => (answeredAt !== undefined ? true : undefined), { timeoutMs: 10_000 });
    polling = false;
    await poller;
    const latencyMs = Math.round(answeredAt! - started);
    const readyMs = second.json.processes[0].readyMs as number;
    console.log(`[rollout story] deploy ${NEW}: ${latencyMs} ms from deploy start to the router resolving it (readiness ${readyMs} ms, deploy command ${second.json.elapsedMs} ms)`);

    // --- a new login of 1.0.0 is told to change version; it does and lands on 1.1.0
    const late = new Terminal(routerUrl, service, 't-late', OLD);
    terminals.push(late);
    expect(await late.login()).toEqual({ action: 'upgrade', service, targetVersion: NEW });
    // Even a terminal that holds a 1.0.0 session gets the version-change message at its next login.
    expect(await terminals[0]!.login()).toEqual({ action: 'upgrade', service, targetVersion: NEW });
    expect(await late.connect()).toEqual({ upgradedFrom: OLD });
    expect((await late.echo('hi')).version).toBe(NEW);
    expect((await late.request()).version).toBe(NEW);

    // --- the connected 1.0.0 terminals still reach 1.0.0: sessions and requests
    for (const t of terminals.slice(0, N)) {
      expect(t.connected).toBe(true);
      expect((await t.echo(`still here ${t.id}`)).version).toBe(OLD);
      expect((await t.request()).version).toBe(OLD);
    }

    // --- status --json: 1.0.0 draining with N terminals, the tally vector ordered by count
    await waitFor('heartbeats to show both versions', async () => {
      const [o, n] = [await processStatus(OLD), await processStatus(NEW)];
      return o?.terminals === N && n?.terminals === 1 && !o.heartbeat.stale && !n.heartbeat.stale ? true : undefined;
    });
    const status = await project.cliJson(['status']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.json.router.up).toBe(true);
    const lobby = status.json.services[service];
    expect(lobby.target).toBe(NEW);
    const oldEntry = lobby.processes.find((p: any) => p.version === OLD);
    const newEntry = lobby.processes.find((p: any) => p.version === NEW);
    expect(oldEntry).toMatchObject({ state: 'draining', terminals: N, heartbeat: { stale: false }, pm2: { status: 'online', pid: oldPid } });
    expect(newEntry).toMatchObject({ state: 'active', terminals: 1, heartbeat: { stale: false }, pm2: { status: 'online' } });
    project.track(newEntry.pm2.pid, `${service}@${NEW}#0`);
    expect(lobby.tally).toEqual([
      { version: OLD, terminals: N, share: expect.closeTo(N / (N + 1), 2) },
      { version: NEW, terminals: 1, share: expect.closeTo(1 / (N + 1), 2) },
    ]);

    // --- while it holds terminals, 1.0.0 is not retired (several grace periods)
    const holdUntil = Date.now() + project.heartbeatMs * 2 * 3;
    while (Date.now() < holdUntil) {
      const p = (await project.policy()).services[service].processes.find((q: any) => q.version === OLD);
      expect(p.state).toBe('draining');
      await new Promise((done) => setTimeout(done, 100));
    }

    // --- the old terminals leave; the drain controller stops and retires 1.0.0
    for (const t of terminals.slice(0, N)) await t.close();
    const left = Date.now();
    const retired = await waitFor('1.0.0 to be retired', async () => {
      const policy = await project.policy();
      const p = policy.services[service].processes.find((q: any) => q.version === OLD);
      return p.state === 'retired' ? policy : undefined;
    }, { timeoutMs: 20_000 });
    console.log(`[rollout story] ${OLD} retired ${Date.now() - left} ms after its last terminal left (grace 2 × ${project.heartbeatMs} ms)`);
    expect(retired.services[service].target).toBe(NEW);
    // Every session ended from the terminal's side: nobody was cut off.
    for (const t of terminals.slice(0, N)) expect(t.closed).toEqual({ by: 'client', code: 1000 });
    expect(late.connected).toBe(true);
    expect((await late.echo('after the retire')).version).toBe(NEW);

    // --- gone from PM2: status's pm2 field, PM2's own list, and the pid
    const after = await waitFor('status to show 1.0.0 retired and out of PM2', async () => {
      const s = await project.cliJson(['status', '--verbose']);
      const p = s.json.services[service].processes.find((q: any) => q.version === OLD);
      return p?.state === 'retired' && (p.pm2 === null || p.pm2 === undefined) ? s : undefined;
    });
    expect(after.exitCode).toBe(0);
    const jlist = await project.pm2Jlist();
    const names = jlist.map((p) => p.name).sort();
    expect(names).toHaveLength(2);
    expect(names[0]).toMatch(new RegExp(`^${service}@${NEW.replaceAll('.', '\\.')}#0\\.g\\d+r[0-9a-f]+$`));
    expect(names[1]).toBe('switchyard-router');
    await waitFor('the 1.0.0 process to exit', () => (pidAlive(oldPid) ? undefined : true), { timeoutMs: 10_000 });
    const metrics = await project.metrics();
    expect(metrics).toMatch(new RegExp(`switchyard_processes_retired_total\\{service="${service}",reason="drained"\\} 1`));
    expect(metrics).not.toMatch(/switchyard_drain_terminals_cut_off_total\{[^}]*\} [1-9]/);

    // --- policy history tells each step
    const history = await project.cliJson(['policy', 'history']);
    expect(history.exitCode, history.stderr).toBe(0);
    const revisions = history.json.revisions as Array<{ generation: number; changes: string[] }>;
    // Claim → act → record: each process is claimed (starting) before it is started, and its stop
    // claimed (stopping) before it is stopped; the incarnation names the generation that claimed it.
    const step = (text: string) => revisions.find((r) => r.changes.includes(text))?.generation;
    // Names carry the claiming generation and a random part: read them from the policy.
    const ids = (await project.policy()).services[service].processes.map((q: { id: string }) => q.id) as string[];
    const oldId = ids.find((id) => id.startsWith(`${service}@${OLD}#0.g1r`))!;
    const newId = ids.find((id) => id.startsWith(`${service}@${NEW}#0.g3r`))!;
    const claimedOld = step(`${oldId}: added (starting)`);
    const activeOld = step(`${oldId}: starting → active`);
    const targetOld = step(`${service}: target none → ${OLD}`);
    const claimedNew = step(`${newId}: added (starting)`);
    const activeNew = step(`${newId}: starting → active`);
    const targetNew = step(`${service}: target ${OLD} → ${NEW}`);
    const draining = step(`${oldId}: active → draining`);
    const stopping = step(`${oldId}: draining → stopping`);
    const retiredAt = step(`${oldId}: stopping → retired`);
    expect({ claimedOld, activeOld, targetOld, claimedNew, activeNew, targetNew, draining, stopping, retiredAt }).toEqual({
      claimedOld: 1, activeOld: 2, targetOld: 2, claimedNew: 3, activeNew: 4, targetNew: 4, draining: 4, stopping: 5, retiredAt: 6,
    });
    expect(revisions.map((r) => r.generation)).toEqual([0, 1, 2, 3, 4, 5, 6]);

    await late.close();
  });
});
