import { cliHeaders } from '../helpers/signed.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureStderr, isRunning, waitExit } from '../helpers/child-processes.js';
import { BIN, tempDir } from '../helpers/cli.js';
import { guardUserPm2Home, pidAlive } from '../helpers/pm2-home.js';
import { childEnv } from '../helpers/router-process.js';

/**
 * `switchyard demo` as CI runs it: no TTY, CI=true, --json, a small size.
 * While it runs, the test records every process that belongs to it (the
 * PM2 daemon from `<PM2_HOME>/pm2.pid`, and every process whose command
 * line or environment names the demo's folder or PM2_HOME: the router and
 * the sample service's processes); after it exits, none of them may be alive
 * and both folders must be gone.
 */

const checkUserPm2 = guardUserPm2Home();
const DEMO_TIMEOUT_MS = 100_000;

/** Every demo child, and every pid recorded as a demo's: afterAll ends what is left (only when a test failed half-way). */
const demos: ChildProcess[] = [];
const recorded = new Set<number>();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function readText(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
}

/** Live processes whose command line or environment mentions any of `needles`, with their command lines. */
function processesNaming(needles: string[]): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = readText(`/proc/${pid}/cmdline`).replaceAll('\0', ' ').trim();
    const environ = readText(`/proc/${pid}/environ`);
    if (needles.some((n) => cmdline.includes(n) || environ.includes(n)) && pidAlive(pid)) found.set(pid, cmdline);
  }
  return found;
}

afterAll(async () => {
  for (const demo of demos.filter(isRunning)) {
    const gone = waitExit(demo);
    demo.kill('SIGKILL');
    await gone;
  }
  for (const pid of [...recorded].filter(pidAlive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  checkUserPm2();
});

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  dir: string | undefined;
  pm2Home: string | undefined;
  /** The PM2 daemon's pid, from `<pm2Home>/pm2.pid` while the demo ran. */
  daemonPid: number | undefined;
  /** pid → command line of every process seen naming the demo's folder or PM2_HOME. */
  owned: Map<number, string>;
}

/**
 * Runs the demo with `args` as a child, recording while it runs the PM2
 * daemon's pid and every process naming its folder or PM2_HOME (which
 * afterAll ends by pid should a test fail).
 */
async function runDemo(args: string[]): Promise<DemoRun> {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], {
    env: childEnv({ CI: 'true', NO_COLOR: '1' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demos.push(child);
  const owned = new Map<number, string>();
  let daemonPid: number | undefined;
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const stderr = captureStderr(child);
  const exited = waitExit(child);
  let done = false;
  void exited.then(() => (done = true));

  // Watch the demo while it runs: learn its folders from its first line, then record its processes.
  let dir: string | undefined;
  let pm2Home: string | undefined;
  const deadline = Date.now() + DEMO_TIMEOUT_MS;
  while (!done && Date.now() < deadline) {
    if (pm2Home === undefined) {
      const m = /demo project in (\S+) \(PM2_HOME (\/tmp\/sy-demo-[0-9a-f]+)\)/.exec(stderr());
      if (m !== null) [, dir, pm2Home] = m;
    }
    if (pm2Home !== undefined && dir !== undefined) {
      const pid = Number(readText(join(pm2Home, 'pm2.pid')).trim());
      if (Number.isInteger(pid) && pid > 0) recorded.add((daemonPid = pid));
      for (const [p, cmd] of processesNaming([dir, pm2Home])) {
        recorded.add(p);
        owned.set(p, cmd);
      }
    }
    await sleep(200);
  }
  if (!done) throw new Error(`the demo did not finish within ${DEMO_TIMEOUT_MS} ms; stderr:\n${stderr()}`);
  const { code, signal } = await exited;
  return { code, signal, stdout, stderr: stderr(), dir, pm2Home, daemonPid, owned };
}

function parseSummary(run: DemoRun): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`stdout is not one JSON document: ${run.stdout.slice(0, 500)}\nstderr:\n${run.stderr}`);
  }
}

/**
 * Ends a PM2 kept running, by pid: SIGTERM to the daemon (PM2 then stops
 * its processes), SIGKILL to whatever of it and `others` is still alive
 * after a while, then removes the PM2_HOME.
 */
async function endPm2(pm2Home: string, others: number[]): Promise<void> {
  const daemon = Number(readText(join(pm2Home, 'pm2.pid')).trim());
  let apps: number[] = [];
  try {
    apps = readdirSync(join(pm2Home, 'pids'))
      .filter((name) => name.endsWith('.pid'))
      .map((name) => Number(readText(join(pm2Home, 'pids', name)).trim()));
  } catch {
    // no pids folder: nothing was started
  }
  const all = [daemon, ...apps, ...others].filter((pid) => Number.isInteger(pid) && pid > 0);
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone already
    }
  };
  if (pidAlive(daemon)) signal(daemon, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (all.some(pidAlive) && Date.now() < deadline) await sleep(100);
  for (const pid of all.filter(pidAlive)) signal(pid, 'SIGKILL');
  await rm(pm2Home, { recursive: true, force: true });
}

describe('switchyard demo (non-interactive, --json)', () => {
  it(
    'rolls out 1.0.0 → 1.1.0 under load with nothing failed or cut off, retires 1.0.0, and leaves nothing running',
    async () => {
      const run = await runDemo(['--json', '--terminals', '8', '--duration', '6s']);
      const { code, signal, dir, pm2Home, daemonPid, owned } = run;
      const stderr = () => run.stderr;
      // A human-readable log on stderr, only the JSON summary on stdout.
      const summary = parseSummary(run);
      console.log(`demo summary: ${JSON.stringify(summary)}`);
      expect({ code, signal }, `stderr:\n${stderr()}`).toEqual({ code: 0, signal: null });
      expect(summary).toMatchObject({
        ok: true,
        terminals: 8,
        requestsFailed: 0,
        sessionsCutOff: 0,
        loginsFailed: 0,
        oldVersion: '1.0.0',
        newVersion: '1.1.0',
        oldRetired: true,
        kept: false,
        failures: [],
      });
      expect(summary.upgradesFollowed as number).toBeGreaterThan(0);
      expect(summary.requestsOk as number).toBeGreaterThan(0);
      // The router never goes down in the demo: every request and login succeeds on its first try, and the summary says so.
      expect(summary).toMatchObject({ requestRetries: 0, requestsAfterRetry: 0, loginRetries: 0, loginsAfterRetry: 0, retried: [] });
      expect(summary.requestsFirstTry).toBe(summary.requestsOk);
      expect(summary.loginsFirstTry).toBe(summary.loginsOk);
      expect(stderr()).toContain(`${summary.requestsOk as number} requests: ${summary.requestsOk as number} first-try, 0 after retry (0 retries), 0 failed`);
      expect(stderr()).toMatch(/\d+ logins: \d+ first-try, 0 after retry \(0 retries\), 0 failed/);
      expect(summary.sessionsCompleted).toBe(summary.sessionsOpened);
      expect(summary.oldRetiredAfterMs as number).toBeGreaterThan(0);
      expect(summary.oldRetiredAfterMs as number).toBeLessThanOrEqual(summary.totalMs as number);
      expect(summary.deployMs as number).toBeGreaterThan(0);

      // What the test saw while the demo ran: its folders, PM2 daemon, router and both versions' processes.
      expect(dir).toBe(summary.dir);
      expect(pm2Home).toBeDefined();
      expect(daemonPid, `no ${pm2Home}/pm2.pid was seen while the demo ran`).toBeDefined();
      const commands = [...owned.values()];
      // The router under PM2 shows as `node …/bin/switchyard.js` (PM2 drops the arguments from its title).
      expect(commands.some((c) => c.endsWith('bin/switchyard.js')), JSON.stringify(commands)).toBe(true);
      expect(commands.some((c) => c.startsWith('PM2 ') && c.includes(pm2Home!)), JSON.stringify(commands)).toBe(true);
      expect(commands.some((c) => c.includes(`${dir}/releases/1.0.0/server.mjs`)), JSON.stringify(commands)).toBe(true);
      expect(commands.some((c) => c.includes(`${dir}/releases/1.1.0/server.mjs`)), JSON.stringify(commands)).toBe(true);

      // Nothing left: folders removed, the daemon and every recorded process gone, none new.
      expect(existsSync(summary.dir as string)).toBe(false);
      expect(existsSync(pm2Home!)).toBe(false);
      expect(pidAlive(daemonPid!), `the PM2 daemon ${daemonPid} of ${pm2Home} is still alive`).toBe(false);
      const survivors = [...owned].filter(([pid]) => pidAlive(pid));
      expect(survivors, 'processes of the demo still alive').toEqual([]);
      expect([...processesNaming([dir!, pm2Home!])]).toEqual([]);
    },
    DEMO_TIMEOUT_MS + 20_000,
  );

  it(
    '--keep --dir leaves the project, the router and the new version running (ended here by pid)',
    async () => {
      const { dir: parent, cleanup } = await tempDir('sy-demo-keep-');
      const dir = join(parent, 'demo');
      let run: DemoRun | undefined;
      try {
        run = await runDemo(['--json', '--keep', '--dir', dir, '--terminals', '4', '--duration', '4s']);
        const summary = parseSummary(run);
        expect({ code: run.code, signal: run.signal }, run.stderr).toEqual({ code: 0, signal: null });
        expect(summary).toMatchObject({ ok: true, kept: true, dir, oldRetired: true, requestsFailed: 0, sessionsCutOff: 0 });
        expect(run.dir).toBe(dir);

        // Still there: the project, the PM2 daemon, and the router answering with 1.1.0 as the target.
        expect(existsSync(join(dir, 'switchyard.config.json'))).toBe(true);
        expect(run.daemonPid !== undefined && pidAlive(run.daemonPid)).toBe(true);
        const config = JSON.parse(readFileSync(join(dir, 'switchyard.config.json'), 'utf8')) as { router: { listen: string } };
        const token = readFileSync(join(dir, '.switchyard', 'token'), 'utf8').trim();
        const answer = await fetch(`http://${config.router.listen}/v1/status`, { headers: cliHeaders(token), signal: AbortSignal.timeout(5000) });
        expect(answer.status).toBe(200);
        const status = (await answer.json()) as { services: Record<string, { target: string; processes: Array<{ version: string; state: string }> }> };
        expect(status.services.demo!.target).toBe('1.1.0');
        expect(status.services.demo!.processes.filter((p) => p.version === '1.0.0').every((p) => p.state === 'retired')).toBe(true);
        expect(status.services.demo!.processes.some((p) => p.version === '1.1.0' && p.state === 'active')).toBe(true);
      } finally {
        if (run?.pm2Home !== undefined) await endPm2(run.pm2Home, [...run.owned.keys()]);
        await cleanup();
      }
      expect([...processesNaming([dir, run!.pm2Home!])]).toEqual([]);
    },
    DEMO_TIMEOUT_MS + 20_000,
  );
});
