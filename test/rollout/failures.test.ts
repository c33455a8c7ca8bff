import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PolicyStore } from '../../src/store/policy-store.js';
import { pidAlive } from '../helpers/pm2-home.js';
import { assertNothingLeft, makeRolloutProject, waitFor, type RolloutProject, type RolloutProjectOptions } from '../helpers/rollout-project.js';
import { Terminal } from '../helpers/rollout-terminals.js';

/**
 * What goes wrong in a rollout, on a real fleet (PM2 under a temp PM2_HOME,
 * the router under that PM2, the sample service): a release that never
 * becomes ready, a draining process that stops heartbeating, a drain
 * deadline, a rollback to a retired version, two promotes at once, and the
 * commands that must refuse or warn. Build first (`npm run build`).
 */

const HOLD_COMMITS = join(import.meta.dirname, '../fixtures/hold-commits.mjs');
const projects: RolloutProject[] = [];
const terminals: Terminal[] = [];

async function project(opts: RolloutProjectOptions): Promise<RolloutProject> {
  const made = await makeRolloutProject(opts);
  projects.push(made);
  return made;
}

afterEach(() => {
  for (const t of terminals.splice(0)) t.terminate();
});

afterAll(async () => {
  const results = await Promise.allSettled(projects.map((p) => p.cleanup()));
  await assertNothingLeft();
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
});

/** The version's newest live entry (a rollback starts a new incarnation beside the retired one), else its newest. */
function entry(policy: any, service: string, version: string): any {
  const all = policy.services[service].processes.filter((p: any) => p.version === version);
  return all.reverse().find((p: any) => p.state !== 'retired' && p.state !== 'failed') ?? all[0];
}

/** A process name of `version`'s first slot, any incarnation. */
const slot0 = (version: string) => new RegExp(`^lobby@${version.replaceAll('.', '\\.')}#0\\.g\\d+r[0-9a-f]+$`);

async function statusOf(p: RolloutProject, version: string): Promise<any | undefined> {
  const status = await p.routerStatus();
  return status?.services[p.service]?.processes.find((q: any) => q.version === version && q.state !== 'retired');
}

/** A terminal of `version` logged in and holding a session, seen by the router in a heartbeat. */
async function holdSession(p: RolloutProject, version: string, id: string): Promise<{ terminal: Terminal; pid: number }> {
  const terminal = new Terminal(p.routerUrl, p.service, id, version);
  terminals.push(terminal);
  await terminal.connect();
  expect((await terminal.echo('hi')).version).toBe(version);
  const pid = await waitFor(`${version} to report the session`, async () => {
    const s = await statusOf(p, version);
    return s?.terminals === 1 && s.pm2?.pid > 0 ? (s.pm2.pid as number) : undefined;
  });
  p.track(pid, `${p.service}@${version}`);
  return { terminal, pid };
}

async function routerStart(p: RolloutProject): Promise<void> {
  const started = await p.cli(['router', 'start']);
  expect(started.exitCode, started.stderr).toBe(0);
  p.daemonPid();
}

async function deploy(p: RolloutProject, version: string, ...flags: string[]): Promise<any> {
  const result = await p.cliJson(['deploy', version, ...flags]);
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json;
}

// ------------------------------------------------------------------ no router needed

describe('commands that refuse, warn or conflict (one project, 1.0.0 deployed)', () => {
  let p: RolloutProject;

  beforeAll(async () => {
    p = await project({ versions: ['1.0.0', '1.1.0', '1.2.0'], prefix: 'sy-fail-' });
    await p.addRelease('2.0.0', 'crash');
    await deploy(p, '1.0.0');
  });

  it('(g) status with the router stopped still shows the policy and PM2, with a warning (exit 0)', async () => {
    await routerStart(p);
    const up = await p.cliJson(['status']);
    expect(up.json.router.up).toBe(true);
    const stopped = await p.cli(['router', 'stop']);
    expect(stopped.exitCode, stopped.stderr).toBe(0);

    const text = await p.cli(['status']);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/warning: the router is not answering at http:\/\/127\.0\.0\.1:\d+/);
    expect(text.stdout).toMatch(/lobby\s+target 1\.0\.0/);
    expect(text.stdout).toMatch(/1\.0\.0 \*\s+active/);

    const json = await p.cliJson(['status']);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(json.stderr).toMatch(/router is not answering/);
    expect(json.json.router.up).toBe(false);
    const lobby = json.json.services.lobby;
    expect(lobby.target).toBe('1.0.0');
    const proc = lobby.processes.find((q: any) => q.version === '1.0.0');
    expect(proc.id).toMatch(slot0('1.0.0'));
    expect(proc).toMatchObject({ state: 'active', heartbeat: { ageMs: null }, pm2: { id: proc.id, status: 'online' } });
    p.track(proc.pm2.pid, proc.id);
  });

  it('(h) drain of the target is refused with exit 2', async () => {
    const before = (await p.policy()).generation;
    const result = await p.cliJson(['drain', '1.0.0']);
    expect(result.exitCode).toBe(2);
    expect(result.json).toMatchObject({ ok: false, error: 'drain_target' });
    expect(result.stderr).toMatch(/1\.0\.0 is the target of lobby/);
    expect((await p.policy()).generation).toBe(before);
  });

  it('(f) deploying a version that is already active exits 0 and says so', async () => {
    const before = (await p.policy()).generation;
    const again = await p.cliJson(['deploy', '1.0.0']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/lobby@1\.0\.0 is already the target: nothing to do/);
    expect(again.json).toMatchObject({ ok: true, version: '1.0.0', generation: before, processes: [] });
    expect((await p.policy()).generation).toBe(before);
    const names = (await p.pm2Jlist()).filter((q) => q.name.startsWith('lobby@1.0.0')).map((q) => q.name);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(slot0('1.0.0'));
  });

  it('(a) a release that crashes at start: exit 1, its last log lines, nothing left in PM2, its claim recorded failed', async () => {
    const before = await p.policy();
    const failed = await p.cli(['deploy', '2.0.0']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/lobby@2\.0\.0 was not deployed/);
    expect(failed.stderr).toMatch(/lobby@2\.0\.0#0\.g\d+r[0-9a-f]+/);
    // The last lines the process wrote, so the operator sees why without opening a log.
    expect(failed.stderr).toContain('fatal: cannot open the session database: ENOENT /var/lib/lobby/sessions.db');
    expect(failed.stderr).toContain('loading config from /etc/lobby/lobby.conf');

    const names = (await p.pm2Jlist()).map((q) => q.name);
    expect(names.some((n) => n.startsWith('lobby@2.0.0'))).toBe(false);
    expect(names.some((n) => slot0('1.0.0').test(n))).toBe(true);
    // Claim, then record: two revisions, the second saying the start failed; the target and 1.0.0 untouched.
    const after = await p.policy();
    expect(after.generation).toBe(before.generation + 2);
    expect(after.services.lobby.target).toBe('1.0.0');
    expect(after.services.lobby.processes.filter((q: any) => q.version === '2.0.0').map((q: any) => q.state)).toEqual(['failed']);
    expect(after.services.lobby.processes.filter((q: any) => q.version !== '2.0.0')).toEqual(before.services.lobby.processes);
  });

  it('(e) two promotes at once: one wins, the other exits 4, no update is ever lost', async () => {
    await deploy(p, '1.1.0', '--no-promote');
    await deploy(p, '1.2.0', '--no-promote');
    const store = new PolicyStore(p.stateDir);
    const attempts: string[] = [];
    let raced = false;
    for (let attempt = 1; attempt <= 15 && !raced; attempt++) {
      // Back to the same start every attempt: 1.0.0 the target, 1.1.0 and 1.2.0 active candidates.
      await store.update((policy) => {
        const svc = policy.services.lobby!;
        svc.target = '1.0.0';
        for (const q of svc.processes) {
          if (q.state === 'failed' || q.state === 'retired') continue;
          q.state = 'active';
          delete q.drainDeadline;
        }
        return policy;
      });
      const start = (await p.policy()).generation as number;

      // Hold each command at its commit (test/fixtures/hold-commits.mjs) so both read generation `start` before either commits.
      const gate = join(p.dir, `commit-gate-${attempt}`);
      const env = { NODE_OPTIONS: `--import=${HOLD_COMMITS}`, HOLD_COMMITS_GATE: gate };
      const pending = Promise.all([p.cliJson(['promote', '1.1.0'], { env }), p.cliJson(['promote', '1.2.0'], { env })]);
      for (let waited = 0; waited < 3000 && (await readdir(p.dir)).filter((name) => name.startsWith(`commit-gate-${attempt}.`)).length < 2; waited += 20) await sleep(20);
      await writeFile(gate, '');
      const runs = await pending;
      const codes = runs.map((r) => r.exitCode);
      attempts.push(codes.join('/'));
      for (const r of runs) expect([0, 4], r.stderr).toContain(r.exitCode);
      const winners = runs.map((r, i) => ({ r, version: i === 0 ? '1.1.0' : '1.2.0' })).filter((w) => w.r.exitCode === 0);
      expect(winners.length).toBeGreaterThanOrEqual(1);

      const final = await p.policy();
      // Every exit 0 is a revision written; an exit 4 wrote nothing.
      expect(final.generation).toBe(start + winners.length);
      expect(entry(final, 'lobby', '1.0.0').state).toBe('draining');
      if (winners.length === 1) {
        raced = true;
        const winner = winners[0]!;
        const loser = runs.find((r) => r.exitCode === 4)!;
        expect(loser.json).toMatchObject({ ok: false, error: 'policy_conflict' });
        expect(loser.stderr).toMatch(/The policy changed under you/);
        expect(final.services.lobby.target).toBe(winner.version);
        const other = winner.version === '1.1.0' ? '1.2.0' : '1.1.0';
        expect(entry(final, 'lobby', other).state).toBe('active');
      } else {
        // They did not overlap: both wrote, one after the other, and the history keeps both.
        const mid = await store.revision(start + 1);
        const first = mid.services.lobby!.target!;
        const second = final.services.lobby.target;
        expect(new Set([first, second])).toEqual(new Set(['1.1.0', '1.2.0']));
        expect(entry(final, 'lobby', first).state).toBe('draining');
      }
    }
    console.log(`[rollout failures] concurrent promotes, exit codes per attempt: ${attempts.join(', ')}`);
    expect(raced, `no attempt raced: ${attempts.join(', ')}`).toBe(true);
  });
});

// ------------------------------------------------------------------ readiness timeout

describe('readiness timeout', () => {
  it('(a) a release that never listens: exit 1 after the readiness timeout, nothing left in PM2, its claim recorded failed', async () => {
    const p = await project({ readinessTimeout: '1500ms', prefix: 'sy-silent-' });
    await p.addRelease('3.0.0', 'silent');
    const before = await p.policy();
    const failed = await p.cli(['deploy', '3.0.0']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/lobby@3\.0\.0#0\.g\d+r[0-9a-f]+ did not become ready\b.*not ready within 1\.5s/);
    expect(failed.stderr).toContain('release 3.0.0 warming caches, not listening yet');
    expect((await p.pm2Jlist()).map((q) => q.name)).toEqual([]);
    const after = await p.policy();
    expect(after.generation).toBe(before.generation + 2);
    expect(after.services.lobby.target).toBe(null);
    expect(after.services.lobby.processes.map((q: any) => q.state)).toEqual(['failed']);
  });
});

// ------------------------------------------------------------------ with the router and its drain controller

describe('draining with the router', () => {
  it('(b) a draining process whose heartbeats stop is stale, and is not retired', async () => {
    const p = await project({ versions: ['1.0.0', '1.1.0'], prefix: 'sy-stale-' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    const { terminal, pid } = await holdSession(p, '1.0.0', 't-frozen');
    await deploy(p, '1.1.0');
    expect(entry(await p.policy(), 'lobby', '1.0.0').state).toBe('draining');

    // The process hangs: no more heartbeats, its session still open.
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor('1.0.0 to go stale', async () => ((await statusOf(p, '1.0.0'))?.heartbeat.stale === true ? true : undefined));
      // Several grace periods (grace 2 × 300 ms) of silence: stale, never taken for zero terminals.
      const until = Date.now() + p.heartbeatMs * 2 * 5;
      while (Date.now() < until) {
        const s = await statusOf(p, '1.0.0');
        expect(s).toMatchObject({ state: 'draining', heartbeat: { stale: true } });
        expect(entry(await p.policy(), 'lobby', '1.0.0').state).toBe('draining');
        await sleep(150);
      }
      const shown = await p.cliJson(['status']);
      const proc = shown.json.services.lobby.processes.find((q: any) => q.version === '1.0.0');
      expect(proc).toMatchObject({ state: 'draining', heartbeat: { stale: true }, pm2: { pid } });
      expect(proc.heartbeat.ageMs).toBeGreaterThan(p.heartbeatMs * 3);
      const text = await p.cli(['status']);
      expect(text.stdout).toMatch(/1\.0\.0\s+draining.*stale/);
      expect(pidAlive(pid)).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    // It comes back: fresh heartbeats with its terminal, still draining; once the terminal leaves, it retires.
    await waitFor('1.0.0 to be fresh again', async () => {
      const s = await statusOf(p, '1.0.0');
      return s?.heartbeat.stale === false && s.terminals === 1 ? true : undefined;
    });
    expect(entry(await p.policy(), 'lobby', '1.0.0').state).toBe('draining');
    expect((await terminal.echo('back')).version).toBe('1.0.0');
    await terminal.close();
    await waitFor('1.0.0 to retire after its terminal left', async () => (entry(await p.policy(), 'lobby', '1.0.0').state === 'retired' ? true : undefined));
    const metrics = await p.metrics();
    expect(metrics).not.toMatch(/switchyard_drain_terminals_cut_off_total\{[^}]*\} [1-9]/);
  });

  it('a terminal sent to the old version just before the promote is not cut off: grace counts from the drain', async () => {
    const p = await project({ versions: ['1.0.0', '1.1.0'], prefix: 'sy-grace-' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    // 1.0.0 has reported zero terminals for many intervals before anything drains it.
    await waitFor('1.0.0 to heartbeat', async () => ((await statusOf(p, '1.0.0'))?.heartbeat.stale === false ? true : undefined));
    await sleep(p.heartbeatMs * 4);

    // A terminal logs in while 1.0.0 is still the target…
    const t = new Terminal(p.routerUrl, 'lobby', 't-edge', '1.0.0');
    terminals.push(t);
    const answer = await t.login();
    expect(answer).toMatchObject({ action: 'connect', version: '1.0.0' });
    if (answer.action !== 'connect') return;
    const generation = (await p.policy()).generation as number;
    const promoting = p.cliJson(['deploy', '1.1.0']);
    // …and connects where it was told the moment the router serves the promote.
    await waitFor('the router to serve the promote', async () => {
      const health = await fetch(`${p.routerUrl}/healthz`).then((r) => r.json() as Promise<{ generation: number }>).catch(() => undefined);
      return health !== undefined && health.generation > generation ? true : undefined;
    }, { intervalMs: 2 });
    await t.open(answer.address, answer.port);
    expect((await promoting).exitCode).toBe(0);

    // Several grace periods later the session is still there, and 1.0.0 still drains.
    const until = Date.now() + p.heartbeatMs * 2 * 4;
    while (Date.now() < until) {
      expect(t.closed).toBeUndefined();
      expect(entry(await p.policy(), 'lobby', '1.0.0').state).toBe('draining');
      await sleep(100);
    }
    expect((await t.echo('still here')).version).toBe('1.0.0');
    await t.close();
    await waitFor('1.0.0 to retire once the terminal left', async () => (entry(await p.policy(), 'lobby', '1.0.0').state === 'retired' ? true : undefined));
  });

  it('(c) a passed drain deadline stops the process anyway and reports the terminals cut off', async () => {
    const p = await project({ versions: ['1.0.0', '1.1.0'], drainTimeout: '2s', prefix: 'sy-deadline-' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    const { terminal, pid } = await holdSession(p, '1.0.0', 't-stays');
    const promoted = Date.now();
    await deploy(p, '1.1.0');
    const draining = entry(await p.policy(), 'lobby', '1.0.0');
    expect(draining.state).toBe('draining');
    expect(Date.parse(draining.drainDeadline) - promoted).toBeLessThan(10_000);

    const retired = await waitFor('1.0.0 to be stopped at its deadline', async () => {
      const e = entry(await p.policy(), 'lobby', '1.0.0');
      return e.state === 'retired' ? e : undefined;
    }, { timeoutMs: 20_000 });
    expect(Date.parse(retired.since)).toBeGreaterThanOrEqual(Date.parse(draining.drainDeadline));
    // The terminal was cut off: the server closed its session.
    await waitFor('the session to be closed by the server', () => terminal.closed);
    expect(terminal.closed?.by).toBe('server');
    await waitFor('the 1.0.0 process to exit', () => (pidAlive(pid) ? undefined : true));
    const left = (await p.pm2Jlist()).map((q) => q.name).sort();
    expect(left).toHaveLength(2);
    expect(left[0]).toMatch(slot0('1.1.0'));
    expect(left[1]).toBe('switchyard-router');

    const metrics = await p.metrics();
    const cutOff = /switchyard_drain_terminals_cut_off_total\{service="lobby",version="1\.0\.0"\} (\d+)/.exec(metrics);
    expect(cutOff, metrics).not.toBeNull();
    expect(Number(cutOff![1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/switchyard_processes_retired_total\{service="lobby",reason="deadline"\} 1/);
    const status = await p.cliJson(['status', '--verbose']);
    expect(status.json.services.lobby.processes.find((q: any) => q.version === '1.0.0')).toMatchObject({ state: 'retired', pm2: null });
  });

  it('(d) rollback brings a retired version back: process restarted, target back', async () => {
    const p = await project({ versions: ['1.0.0', '1.1.0'], prefix: 'sy-rollback-' });
    await routerStart(p);
    await deploy(p, '1.0.0');
    const oldName = entry(await p.policy(), 'lobby', '1.0.0').id as string;
    const oldPid = (await p.pm2Jlist()).find((q) => q.name === oldName)!.pid;
    const waited = await deploy(p, '1.1.0', '--wait', '--timeout', '20s');
    expect(waited).toMatchObject({ promoted: true, previousTarget: '1.0.0', retiredAfterMs: expect.any(Number) });
    expect(entry(await p.policy(), 'lobby', '1.0.0').state).toBe('retired');
    expect((await p.pm2Jlist()).some((q) => q.name === oldName)).toBe(false);

    const rolled = await p.cliJson(['rollback']);
    expect(rolled.exitCode, rolled.stderr).toBe(0);
    expect(rolled.json).toMatchObject({ ok: true, target: '1.0.0', previousTarget: '1.1.0', restarted: [expect.stringMatching(slot0('1.0.0'))] });
    const restartedId = rolled.json.restarted[0] as string;
    // A new incarnation, never the retired name again.
    expect(restartedId).not.toBe(oldName);
    const policy = await p.policy();
    expect(policy.services.lobby.target).toBe('1.0.0');
    expect(entry(policy, 'lobby', '1.0.0').state).toBe('active');
    // 1.1.0 drains (and, holding no terminal, may be retired by the router any moment now).
    expect(['draining', 'retired']).toContain(entry(policy, 'lobby', '1.1.0').state);
    const back = (await p.pm2Jlist()).find((q) => q.name === restartedId);
    expect(back?.pm2_env.status).toBe('online');
    expect(back!.pid).not.toBe(oldPid);

    // Terminals go to 1.0.0 again; a 1.1.0 terminal is told to change back.
    const t = new Terminal(p.routerUrl, 'lobby', 't-back', '1.1.0');
    terminals.push(t);
    expect(await t.login()).toEqual({ action: 'upgrade', service: 'lobby', targetVersion: '1.0.0' });
    expect(await t.connect()).toEqual({ upgradedFrom: '1.1.0' });
    expect((await t.echo('hi')).version).toBe('1.0.0');
    await t.close();

    const history = (await p.cliJson(['policy', 'history'])).json.revisions as Array<{ generation: number; changes: string[] }>;
    const last = history.find((r) => r.changes.includes('lobby: target 1.1.0 → 1.0.0'));
    const newId = entry(policy, 'lobby', '1.1.0').id as string;
    expect(last?.changes).toEqual(expect.arrayContaining([`${restartedId}: starting → active`, `${newId}: active → draining`]));
  });
});
