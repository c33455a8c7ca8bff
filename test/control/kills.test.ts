import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { localLogFile } from '../../src/fleet/local-fleet.js';
import { spawnCli } from '../helpers/cli.js';
import { pidAlive } from '../helpers/pm2-home.js';
import { projectPool, routerStart, deployOk } from '../helpers/project-pool.js';
import { SAMPLE_SERVICE, waitFor, type RolloutProject, type RolloutProjectOptions } from '../helpers/rollout-project.js';

/**
 * Kills on a real fleet (PM2 under a temp PM2_HOME, the router and its
 * reconcile loop under that PM2, the built CLI): the CLI SIGKILLed at random
 * points of a deploy, the PM2 daemon SIGKILLed during one, and CLI writers
 * of the policy racing and SIGKILLed. Each test prints what it counted.
 * Build first (`npm run build`).
 */
const pool = projectPool();
const project = (opts: RolloutProjectOptions) => pool.make(opts);
afterAll(() => pool.cleanupAll(), 120_000);

/** The built CLI as a child of ours (its pid is needed to kill it), in the project's folder and environment. */
const spawnIn = (p: RolloutProject, args: string[], timeoutMs = 60_000) => spawnCli(args, { cwd: p.dir, env: p.env, timeoutMs });

const deploy = deployOk;

const LIVE = ['active', 'draining'];
const entries = (policy: any): any[] => policy.services.lobby?.processes ?? [];
const ofService = (names: string[]) => names.filter((n) => n.startsWith('lobby@'));

describe('kills on a real PM2 fleet', () => {
  it('SIGKILL of the CLI at random points of a deploy, 20 times: no invisible process, the next deploy works the first time', async () => {
    const versions = ['1.0.0', '1.1.0', '1.2.0'];
    const p = await project({ versions, prefix: 'sy-kill-cli-', heartbeatInterval: '200ms', grace: 1 });
    await routerStart(p);
    // How long a whole deploy takes here (the machine may be loaded), so the kills spread over its life.
    const deployMs: number[] = [];
    const firstAt = Date.now();
    await deploy(p, versions[0]!);
    deployMs.push(Date.now() - firstAt);
    const typicalMs = () => [...deployMs].sort((a, b) => a - b)[Math.floor(deployMs.length / 2)]!;
    const ROUNDS = 20;
    const counts = { beforeClaim: 0, afterClaim: 0, afterStart: 0, recorded: 0, finished: 0 };
    const delays: number[] = [];
    const retries: string[] = [];
    const trail: string[] = [];
    const began = Date.now();
    for (let round = 0; round < ROUNDS; round += 1) {
      const version = versions[(round + 1) % versions.length]!;
      // A real deploy every round: the version's earlier process is retired (drained) first.
      await waitFor(`${version} to have no live process before round ${round}`, async () => (entries(await p.policy()).some((q) => q.version === version && q.state !== 'retired' && q.state !== 'failed') ? undefined : true), { timeoutMs: 30_000, intervalMs: 100 });
      const before = new Set(entries(await p.policy()).map((q) => q.id));
      // Spread over 0 to a little past a typical deploy (at most 1.5 s): one delay in each twentieth of the range.
      const delay = Math.round(((round + Math.random()) / ROUNDS) * Math.min(1500, typicalMs() * 1.1));
      delays.push(delay);
      const child = spawnIn(p, ['deploy', version, '--json']);
      await sleep(delay);
      child.kill('SIGKILL');
      const ended = await child;
      // Not killed means it ran to the end first, and then it must have succeeded.
      if (!ended.isTerminated) expect(ended.exitCode, String(ended.stderr)).toBe(0);

      // Where the kill landed, from the policy and PM2.
      const jlist = await p.pm2Jlist();
      const after = await p.policy();
      const mine = entries(after).filter((q) => !before.has(q.id) && q.version === version);
      // Active: the killed command recorded its start. Starting or failed (the router's loop marks an
      // abandoned claim failed within an interval): PM2 started it if it opened the process's log.
      const landed: keyof typeof counts = !ended.isTerminated
        ? 'finished'
        : mine.length === 0
          ? 'beforeClaim'
          : mine.some((q) => q.state === 'active')
            ? 'recorded'
            : mine.some((q) => jlist.some((j) => j.name === q.id) || existsSync(localLogFile(join(p.stateDir, 'logs'), q.id)))
              ? 'afterStart'
              : 'afterClaim';
      counts[landed] += 1;

      // No invisible process: every PM2 process of the service is named by an entry status shows
      // (the router's view follows the policy file within a moment, so it is polled).
      const names = ofService(jlist.map((j) => j.name));
      let lastShown: string[] = [];
      await waitFor(`status --json to show every PM2 process of lobby after kill ${round} (${delay} ms)`, async () => {
        const status = await p.cliJson(['status']);
        lastShown = (status.json.services?.lobby?.processes ?? []).map((q: any) => q.id);
        return names.every((n) => lastShown.includes(n)) ? true : undefined;
      }, { timeoutMs: 15_000, intervalMs: 200, last: () => ({ pm2: names, shown: lastShown }) });

      // The next deploy of the same version works the first time.
      const againAt = Date.now();
      const again = await p.cliJson(['deploy', version]);
      if (again.exitCode === 0 && again.json.unchanged !== true) deployMs.push(Date.now() - againAt);
      expect(again.exitCode, `round ${round} (killed after ${delay} ms): ${again.stderr}`).toBe(0);
      retries.push(again.json.unchanged === true ? 'unchanged' : 'deployed');
      trail.push(`${delay}ms:${landed}/${retries.at(-1)}`);
      expect((await p.policy()).services.lobby.target).toBe(version);
    }

    // The router's reconcile loop converges: every PM2 process named by a live entry, no start claim left.
    let last: unknown;
    await waitFor('the reconcile loop to converge', async () => {
      const policy = await p.policy();
      const names = ofService((await p.pm2Jlist()).map((j) => j.name));
      const live = new Set(entries(policy).filter((q) => LIVE.includes(q.state)).map((q) => q.id));
      const starting = entries(policy).filter((q) => q.state === 'starting').map((q) => q.id);
      last = { unnamed: names.filter((n) => !live.has(n)), starting };
      return names.every((n) => live.has(n)) && starting.length === 0 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250, last: () => last });
    const policy = await p.policy();
    const failed = entries(policy).filter((q) => q.state === 'failed').length;
    console.log(`[kills] CLI SIGKILLed during deploy ${ROUNDS} times (delays ${Math.min(...delays)}–${Math.max(...delays)} ms; a whole deploy took ${typicalMs()} ms) in ${Math.round((Date.now() - began) / 1000)} s: ${counts.beforeClaim} before the claim, ${counts.afterClaim} after the claim, ${counts.afterStart} after a PM2 start, ${counts.recorded} after the record, ${counts.finished} finished first; next deploy exit 0 first time ${retries.length}/${ROUNDS} (${retries.filter((r) => r === 'deployed').length} deployed, ${retries.filter((r) => r === 'unchanged').length} already done); ${failed} abandoned starts recorded failed; converged. Rounds: ${trail.join(' ')}`);
    expect(counts.beforeClaim + counts.afterClaim + counts.afterStart + counts.recorded + counts.finished).toBe(ROUNDS);
  }, 240_000);

  it('SIGKILL of the PM2 daemon during a deploy: the CLI ends within its timeout with a clear error, and status tells the truth', async () => {
    const p = await project({ versions: ['1.0.0'], prefix: 'sy-kill-pm2-' });
    // 1.1.0 takes 3 s to listen, so the kill lands while the deploy waits for it (it is fast otherwise).
    await mkdir(join(p.dir, 'releases', '1.1.0'), { recursive: true });
    await writeFile(join(p.dir, 'releases', '1.1.0', 'server.mjs'), `await new Promise((r) => setTimeout(r, 3000));\nawait import(${JSON.stringify(SAMPLE_SERVICE)});\n`);
    await routerStart(p);
    await deploy(p, '1.0.0');
    for (const q of await p.pm2Jlist()) p.track(q.pid, q.name);
    const daemon = p.daemonPid()!;
    expect(daemon).toBeGreaterThan(0);

    const started = Date.now();
    const child = spawnIn(p, ['deploy', '1.1.0'], 60_000);
    // Kill once the deploy has claimed its process (so it talks to this daemon), 0.3–1 s after it began.
    await waitFor('the deploy to claim 1.1.0', async () => (entries(await p.policy()).some((q) => q.version === '1.1.0') ? true : undefined), { timeoutMs: 30_000, intervalMs: 20 });
    const at = Math.max(300 + Math.random() * 700, Date.now() - started);
    await sleep(Math.max(0, started + at - Date.now()));
    const children = new Map<string, number>();
    for (const q of await readdir(join(p.pm2Home, 'pids')).catch(() => [] as string[])) {
      const pid = Number((await readFile(join(p.pm2Home, 'pids', q), 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        p.track(pid, `PM2 process ${q}`);
        children.set(q.replace(/-\d+\.pid$/, ''), pid);
      }
    }
    process.kill(daemon, 'SIGKILL');
    const killedAfter = Date.now() - started;
    const ended = await child;
    const tookMs = Date.now() - started;
    const message = String(ended.stderr).trim();
    console.log(`[kills] PM2 daemon SIGKILLed ${killedAfter} ms into a deploy: the CLI exited ${ended.exitCode} after ${tookMs} ms, saying: ${message}`);
    expect(ended.timedOut).toBe(false);
    expect(tookMs).toBeLessThan(40_000);
    expect(ended.exitCode).toBe(1);
    expect(message).toMatch(/^error: lobby@1\.1\.0 was not deployed/m);
    expect(message).toMatch(/PM2 (stopped answering|did not answer|could not)/);
    expect(pidAlive(daemon)).toBe(false);
    // What the dead daemon ran may outlive it as orphans (the clean-up kills them by their pid files).
    const survivors = [...children].map(([name, pid]) => `${name} ${pidAlive(pid) ? 'alive' : 'gone'}`);
    console.log(`[kills] PM2's processes after its daemon died: ${survivors.join(', ')}`);

    // status tells the truth: nothing shown as running, each live entry unknown, and --check fails.
    let lastStatus: any;
    let looks = 0;
    const status = await waitFor('status --json to show every live process as unknown', async () => {
      looks += 1;
      const s = await p.cliJson(['status'], { timeoutMs: 60_000 });
      lastStatus = s.json;
      const live = (s.json.services?.lobby?.processes ?? []).filter((q: any) => LIVE.includes(q.state) || q.state === 'starting' || q.state === 'stopping');
      return live.length > 0 && live.every((q: any) => typeof q.pm2?.unreachable === 'string') ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, last: () => lastStatus });
    const live = status.json.services.lobby.processes.filter((q: any) => q.state !== 'retired' && q.state !== 'failed');
    expect(live.some((q: any) => q.pm2?.status === 'online')).toBe(false);
    const unknown = status.json.problems.filter((q: any) => q.kind === 'unknown').map((q: any) => q.id);
    for (const q of live.filter((e: any) => e.state !== 'starting')) expect(unknown).toContain(q.id);
    const checked = await p.cliJson(['status', '--check'], { timeoutMs: 60_000 });
    expect(checked.exitCode, checked.stderr).toBe(1);
    expect(checked.json).toMatchObject({ ok: false, error: 'check_failed' });
    console.log(`[kills] after the daemon died, status look ${looks} shows ${live.map((q: any) => `${q.id} ${q.state} pm2=${JSON.stringify(q.pm2)}`).join(', ')}; problems: ${status.json.problems.map((q: any) => q.kind).join(', ')}; status --check exit ${checked.exitCode}`);
  }, 180_000);

  it('8 CLI writers of policy apply racing, some SIGKILLed: each success owns one generation, the history is contiguous and never rewritten', async () => {
    const p = await project({ prefix: 'sy-kill-apply-' });
    const WRITERS = 8;
    const ROUNDS = 8;
    const headText = await readFile(join(p.stateDir, 'policy.json'), 'utf8');
    const head = JSON.parse(headText);
    // Each attempt's own file: the head plus a service holding one retired process whose port is the attempt's marker
    // (a change the transition rules allow: a retired entry may come and go).
    const marker = (w: number, r: number) => w * 10 + r + 1;
    const marked = (m: number) => ({ target: null, processes: [{ id: `marked@1.0.0#${m}`, version: '1.0.0', host: 'local', address: '127.0.0.1', port: 9000 + m, state: 'retired' }] });
    const fileFor = async (w: number, r: number): Promise<string> => {
      const path = join(p.dir, `policy-w${w}-r${r}.json`);
      const services = { ...head.services, marked: marked(marker(w, r)) };
      await writeFile(path, JSON.stringify({ ...head, services }, null, 2));
      return path;
    };
    const historyDir = join(p.stateDir, 'history');
    const seen = new Map<number, string>();
    const checkHistory = async (): Promise<number[]> => {
      const generations = (await readdir(historyDir)).map((n) => /^(\d+)\.json$/.exec(n)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
      for (const g of generations) {
        const hash = createHash('sha256').update(await readFile(join(historyDir, `${g}.json`))).digest('hex');
        if (!seen.has(g)) seen.set(g, hash);
        expect(seen.get(g), `history/${g}.json was rewritten`).toBe(hash);
      }
      expect(generations, 'the history is contiguous').toEqual(generations.map((_, i) => i));
      return generations;
    };
    await checkHistory();

    const outcomes = { ok: 0, conflict: 0, killed: 0, killedButCommitted: 0, other: [] as string[] };
    const successes: Array<{ marker: number; generation: number }> = [];
    const attempted = new Set<number>();
    const killedMarkers = new Set<number>();
    // How long a racing writer runs, from the rounds so far, so the kills land across its run (start-up, read, commit, publish).
    const durations: number[] = [];
    const typicalMs = () => (durations.length === 0 ? 1500 : [...durations].sort((a, b) => a - b)[Math.floor(durations.length / 2)]!);
    for (let r = 0; r < ROUNDS; r += 1) {
      const paths = await Promise.all(Array.from({ length: WRITERS }, (_, w) => fileFor(w, r)));
      const runs = paths.map((path, w) => {
        attempted.add(marker(w, r));
        const started = Date.now();
        const child = spawnIn(p, ['policy', 'apply', path, '--json'], 60_000);
        // About two in five are SIGKILLed, at 60–120 % of a typical run (the commit is near its end).
        const kill = Math.random() < 0.4 ? (0.6 + Math.random() * 0.6) * typicalMs() : undefined;
        if (kill !== undefined) setTimeout(() => child.kill('SIGKILL'), kill).unref();
        return { w, child, kill, started };
      });
      for (const { w, child, started } of runs) {
        const ended = await child;
        if (!ended.isTerminated) durations.push(Date.now() - started);
        const m = marker(w, r);
        if (ended.isTerminated) {
          outcomes.killed += 1;
          killedMarkers.add(m);
        } else if (ended.exitCode === 0) {
          const json = JSON.parse(String(ended.stdout));
          expect(json).toMatchObject({ ok: true, changed: true });
          successes.push({ marker: m, generation: json.generation });
          outcomes.ok += 1;
        } else if (ended.exitCode === 4) {
          expect(JSON.parse(String(ended.stdout))).toMatchObject({ ok: false, error: 'policy_conflict' });
          outcomes.conflict += 1;
        } else outcomes.other.push(`w${w} r${r}: exit ${ended.exitCode}: ${String(ended.stderr).trim()}`);
      }
      await checkHistory();
    }
    expect(outcomes.other).toEqual([]);

    // Every generation is one attempt's: a success's own, or a killed writer's; never a conflict's, never two.
    const generations = await checkHistory();
    const markerOf = new Map<number, number | undefined>();
    for (const g of generations) {
      const port = JSON.parse(await readFile(join(historyDir, `${g}.json`), 'utf8')).services.marked?.processes?.[0]?.port as number | undefined;
      markerOf.set(g, port === undefined ? undefined : port - 9000);
    }
    const owners = new Map<number, number>();
    for (const s of successes) {
      expect(markerOf.get(s.generation), `generation ${s.generation} holds the marker of its writer`).toBe(s.marker);
      expect(owners.has(s.generation), `generation ${s.generation} claimed by two successes`).toBe(false);
      owners.set(s.generation, s.marker);
    }
    const byMarker = new Map<number, number[]>();
    for (const [g, m] of markerOf) if (m !== undefined) byMarker.set(m, [...(byMarker.get(m) ?? []), g]);
    for (const [m, gs] of byMarker) {
      expect(gs, `marker ${m} in more than one generation`).toHaveLength(1);
      expect(attempted.has(m)).toBe(true);
      if (!successes.some((s) => s.marker === m)) {
        expect(killedMarkers.has(m), `generation ${gs[0]} holds marker ${m} of an attempt that neither succeeded nor was killed`).toBe(true);
        outcomes.killedButCommitted += 1;
      }
    }

    // The next command needs no repair: a plain apply succeeds the first time, and policy.json is the head.
    const final = join(p.dir, 'policy-final.json');
    await writeFile(final, JSON.stringify({ ...head, services: { ...head.services, marked: { target: null, processes: [] } } }, null, 2));
    const headBefore = generations.at(-1)!;
    const applied = await p.cliJson(['policy', 'apply', final]);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(applied.json).toMatchObject({ ok: true, changed: true, generation: headBefore + 1, previousGeneration: headBefore });
    expect((await p.policy()).generation).toBe(headBefore + 1);
    expect((await checkHistory()).at(-1)).toBe(headBefore + 1);
    const attempts = WRITERS * ROUNDS;
    console.log(`[kills] ${WRITERS} policy apply writers × ${ROUNDS} rounds = ${attempts} attempts: ${outcomes.ok} applied (each its own generation), ${outcomes.conflict} conflicts (exit 4), ${outcomes.killed} SIGKILLed (${outcomes.killedButCommitted} of them had committed); history 0..${headBefore + 1} contiguous, ${seen.size} files never rewritten; the next apply succeeded first time`);
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.ok + outcomes.conflict + outcomes.killed).toBe(attempts);
  }, 180_000);
});
