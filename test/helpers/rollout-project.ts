import { cliHeaders } from './signed.js';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { runCli, type CliResult } from './cli.js';
import { freePort } from './free-port.js';
import { appPids, makePm2Home, pidAlive, USER_PM2_HOME, type Pm2Home } from './pm2-home.js';

/**
 * A real switchyard project for rollout tests (and bench/rollout.ts): a temp
 * folder made by `switchyard init --yes`, its config edited for speed (short
 * heartbeat interval, short PM2_HOME under /tmp, readiness on /healthz),
 * release folders whose server.mjs is a one-line wrapper around
 * templates/service/server.mjs, and a clean-up that leaves nothing running.
 *
 *   const project = await makeRolloutProject({ versions: ['1.0.0', '1.1.0'] });
 *   afterAll(() => project.cleanup());
 *   await project.cli(['router', 'start']);
 *   await project.cliJson(['deploy', '1.0.0']);
 *
 * Every CLI call runs `node bin/switchyard.js` (build first) in the project
 * folder with PM2_HOME set to the project's own home, so nothing touches
 * ~/.pm2. Every project made here is remembered, so assertNothingLeft() (in
 * a suite's afterAll) can prove that no PM2 daemon, router or sample service
 * of ours outlived its clean-up.
 *
 * Nothing here imports vitest: the benchmark uses it too.
 */

export const ROOT = resolve(import.meta.dirname, '../..');
export const SAMPLE_SERVICE = join(ROOT, 'templates', 'service', 'server.mjs');
/** The rollout tests' service: a failure rate to inject, and request counters in its heartbeats. */
export const ROLLOUT_SERVICE = join(ROOT, 'test', 'fixtures', 'rollout-service.mjs');
export const PM2_BIN = join(ROOT, 'node_modules', '.bin', 'pm2');

/** What a release folder holds: the sample service, or a release that never becomes ready. */
export type ReleaseKind =
  /** The one-line wrapper around the sample service. */
  | 'service'
  /** Writes a few log lines and exits 1 at once (PM2 restarts it; readiness sees the restarts). */
  | 'crash'
  /** Runs but never listens: readiness times out. */
  | 'silent'
  /** The rollout service: every request answered 200, counters reported in heartbeats. */
  | 'counting'
  /** The rollout service failing 3 of every 10 requests with a 500. */
  | 'failing';

export interface RolloutProjectOptions {
  service?: string;
  /** Releases to write at once (the sample service). */
  versions?: string[];
  /** router.heartbeatInterval; default 300ms. */
  heartbeatInterval?: string;
  /** router.staleAfter; default 3. */
  staleAfter?: number;
  /** services.<name>.drain.grace; default 2. */
  grace?: number;
  /** services.<name>.drain.timeout; default 10m. */
  drainTimeout?: string;
  /** services.<name>.readiness.timeout; default 10s. */
  readinessTimeout?: string;
  /** services.<name>.killTimeout; default 2s. */
  killTimeout?: string;
  /** Size of the service's port range; default 10. */
  portCount?: number;
  /** services.<name>.instances; default 1. */
  instances?: number;
  /** A prefix for the temp folder. */
  prefix?: string;
}

export interface CliJson<T> extends CliResult {
  json: T;
}

/** One process as `pm2 jlist` prints it (the fields used here). */
export interface Pm2JlistEntry {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: { status: string; restart_time?: number };
}

export interface RolloutProject {
  dir: string;
  service: string;
  configPath: string;
  stateDir: string;
  pm2Home: string;
  /** Environment for every child working on this project. */
  env: Record<string, string | undefined>;
  routerPort: number;
  routerUrl: string;
  ports: { from: number; to: number };
  heartbeatMs: number;
  /** The heartbeat/status token `init` wrote. */
  token: string;
  /** Writes releases/<version>/server.mjs. */
  addRelease(version: string, kind?: ReleaseKind): Promise<void>;
  /** Runs the CLI in the project folder (exit code in the result; no throw on failure). */
  cli(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string | undefined> }): Promise<CliResult>;
  /** Runs the CLI with --json and parses stdout. */
  cliJson<T = any>(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string | undefined> }): Promise<CliJson<T>>;
  /** policy.json as it is on disk now. */
  policy(): Promise<any>;
  /** GET /v1/status signed with the CLI's key (the router's own view); undefined when it does not answer. */
  routerStatus(): Promise<any | undefined>;
  /** GET /metrics (open on loopback). */
  metrics(): Promise<string>;
  /** PM2's list from the pm2 binary (`pm2 jlist`, PM2_HOME set); [] when no daemon runs (never starts one). */
  pm2Jlist(): Promise<Pm2JlistEntry[]>;
  /** The PM2 daemon's pid, when one runs. */
  daemonPid(): number | undefined;
  /** Remembers a pid (a sample service seen running) for assertNothingLeft(). */
  track(pid: number, what: string): void;
  /** router stop, delete every PM2 process, kill the daemon by pid, remove the folders. Safe to call twice. */
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

// ------------------------------------------------------------------ bookkeeping

const USER_PM2_EXISTED = existsSync(USER_PM2_HOME);
/** Every pid we saw that must be gone at the end, with what it was. */
const trackedPids = new Map<number, string>();
/** Every project folder and PM2 home made, for the /proc scan. */
const ourPaths = new Set<string>();

/**
 * Ports for service processes: blocks of 20 below the kernel's ephemeral range
 * (where free-port.ts and routers get theirs), disjoint between concurrent
 * vitest workers (VITEST_POOL_ID) and between the projects of one worker.
 */
let blockCounter = 0;
function portBlock(size: number): { from: number; to: number } {
  const pool = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) || 0;
  const slot = (pool % 8) * 40 + (blockCounter++ % 40);
  // A per-run offset, so a port left in a bad state by an earlier run is not hit every time.
  const from = 21000 + ((slot + RUN_OFFSET) % 400) * 20;
  return { from, to: from + Math.min(size, 20) - 1 };
}
const RUN_OFFSET = Math.floor(Math.random() * 400);



/** Environment for children: no runner NODE_OPTIONS, no switchyard overrides, PM2_HOME ours. */
function projectEnv(pm2Home: string): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { NODE_OPTIONS: undefined, PM2_HOME: pm2Home, CI: 'true', NO_COLOR: '1', FORCE_COLOR: undefined };
  for (const key of Object.keys(process.env)) if (key.startsWith('SWITCHYARD_')) env[key] = undefined;
  return env;
}

// ------------------------------------------------------------------ releases

function releaseSource(kind: ReleaseKind): string {
  switch (kind) {
    case 'service':
      return `import ${JSON.stringify(SAMPLE_SERVICE)};\n`;
    case 'counting':
    case 'failing':
      return `globalThis.SWITCHYARD_TEST_FAIL_RATE = ${kind === 'failing' ? 0.3 : 0};\nawait import(${JSON.stringify(ROLLOUT_SERVICE)});\n`;
    case 'crash':
      return [
        "console.log(`release ${process.env.SWITCHYARD_VERSION} starting on port ${process.env.PORT}`);",
        "console.error('loading config from /etc/lobby/lobby.conf');",
        "console.error('fatal: cannot open the session database: ENOENT /var/lib/lobby/sessions.db');",
        'process.exit(1);',
        '',
      ].join('\n');
    case 'silent':
      return [
        "console.log(`release ${process.env.SWITCHYARD_VERSION} warming caches, not listening yet`);",
        'setInterval(() => {}, 1000);',
        "process.on('SIGINT', () => process.exit(0));",
        '',
      ].join('\n');
  }
}

// ------------------------------------------------------------------ the project

export async function makeRolloutProject(opts: RolloutProjectOptions = {}): Promise<RolloutProject> {
  const service = opts.service ?? 'lobby';
  const dir = await mkdtemp(join(tmpdir(), opts.prefix ?? 'sy-rollout-'));
  ourPaths.add(dir);
  let pm2: Pm2Home;
  try {
    pm2 = await makePm2Home();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  ourPaths.add(pm2.home);
  const env = projectEnv(pm2.home);
  const routerPort = await freePort();
  const ports = portBlock(opts.portCount ?? 10);
  const heartbeatInterval = opts.heartbeatInterval ?? '300ms';
  const configPath = join(dir, 'switchyard.config.yaml');
  const stateDir = join(dir, '.switchyard');
  const routerUrl = `http://127.0.0.1:${routerPort}`;

  const cli: RolloutProject['cli'] = (args, cliOpts = {}) =>
    runCli(args, { cwd: dir, env: { ...env, ...cliOpts.env }, timeoutMs: cliOpts.timeoutMs ?? 30_000 });

  let cleaned = false;
  const project: RolloutProject = {
    dir,
    service,
    configPath,
    stateDir,
    pm2Home: pm2.home,
    env,
    routerPort,
    routerUrl,
    ports,
    heartbeatMs: 0,
    token: '',
    async addRelease(version, kind = 'service') {
      const folder = join(dir, 'releases', version);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, 'server.mjs'), releaseSource(kind));
    },
    cli,
    async cliJson(args, cliOpts) {
      const result = await cli([...args, '--json'], cliOpts);
      let json: unknown;
      try {
        json = JSON.parse(result.stdout);
      } catch {
        throw new Error(`switchyard ${args.join(' ')} --json printed no JSON (exit ${result.exitCode})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      }
      return { ...result, json: json as any };
    },
    async policy() {
      return JSON.parse(await readFile(join(stateDir, 'policy.json'), 'utf8'));
    },
    async routerStatus() {
      try {
        const response = await fetch(`${routerUrl}/v1/status`, { headers: cliHeaders(project.token), signal: AbortSignal.timeout(2000) });
        if (!response.ok) return undefined;
        return await response.json();
      } catch {
        return undefined;
      }
    },
    async metrics() {
      const response = await fetch(`${routerUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
      if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
      return response.text();
    },
    async pm2Jlist() {
      // `pm2 jlist` starts a daemon when none runs (STACK.md, trap 4): never let it.
      if (pm2.daemonPid() === undefined) return [];
      const result = await execa(PM2_BIN, ['jlist'], { cwd: dir, env, extendEnv: true, reject: false, timeout: 20_000, stdin: 'ignore' });
      // It may print a banner or a line before the JSON: take the line that is the list.
      const line = String(result.stdout).split('\n').reverse().find((l) => l.trimStart().startsWith('['));
      if (line === undefined) throw new Error(`pm2 jlist printed no list (exit ${result.exitCode})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      const list = JSON.parse(line) as Pm2JlistEntry[];
      for (const p of list) if (p.pid > 0) project.track(p.pid, `PM2 process ${p.name} of ${pm2.home}`);
      return list;
    },
    daemonPid: () => {
      const pid = pm2.daemonPid();
      if (pid !== undefined) project.track(pid, `PM2 daemon of ${pm2.home}`);
      return pid;
    },
    track(pid, what) {
      if (!trackedPids.has(pid)) trackedPids.set(pid, what);
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      const problems: string[] = [];
      try {
        const daemon = project.daemonPid();
        const apps = appPids(pm2.home);
        for (const pid of apps) project.track(pid, `PM2 process of ${pm2.home}`);
        // A test may have frozen a service (SIGSTOP): let it take its signals again.
        for (const pid of apps) {
          try {
            process.kill(pid, 'SIGCONT');
          } catch {
            // gone already
          }
        }
        if (daemon !== undefined) {
          const stop = await cli(['router', 'stop'], { timeoutMs: 30_000 }).catch((error: Error) => ({ exitCode: -1, stdout: '', stderr: error.message }));
          if (stop.exitCode !== 0) problems.push(`router stop exited ${stop.exitCode}: ${stop.stderr}`);
          const deleted = await deleteAllPm2Processes(dir, env);
          if (!deleted.ok) problems.push(`deleting the PM2 processes failed: ${deleted.error}`);
        }
      } finally {
        // Kills the daemon by the pid in <home>/pm2.pid, SIGKILLs what is left, removes the home.
        try {
          await pm2.cleanup();
        } catch (error) {
          problems.push((error as Error).message);
        }
        await rm(dir, { recursive: true, force: true });
      }
      if (problems.length > 0) throw new Error(`clean-up of ${dir}: ${problems.join('; ')}`);
    },
  };

  try {
    const init = await cli(['init', '--yes', '--service', service, '--script', 'releases/{version}/server.mjs', '--ports', `${ports.from}-${ports.to}`, '--listen', `127.0.0.1:${routerPort}`]);
    if (init.exitCode !== 0) throw new Error(`switchyard init failed (exit ${init.exitCode}): ${init.stderr}`);
    const doc = parseDocument(await readFile(configPath, 'utf8'));
    doc.setIn(['router', 'heartbeatInterval'], heartbeatInterval);
    doc.setIn(['router', 'staleAfter'], opts.staleAfter ?? 3);
    doc.set('pm2Home', pm2.home);
    doc.setIn(['services', service, 'readiness', 'http'], '/healthz');
    doc.setIn(['services', service, 'readiness', 'timeout'], opts.readinessTimeout ?? '10s');
    doc.setIn(['services', service, 'drain', 'grace'], opts.grace ?? 2);
    doc.setIn(['services', service, 'drain', 'timeout'], opts.drainTimeout ?? '10m');
    doc.setIn(['services', service, 'killTimeout'], opts.killTimeout ?? '2s');
    if (opts.instances !== undefined) doc.setIn(['services', service, 'instances'], opts.instances);
    await writeFile(configPath, doc.toString());
    project.token = (await readFile(join(stateDir, 'token'), 'utf8')).trim();
    project.heartbeatMs = parseMs(heartbeatInterval);
    for (const version of opts.versions ?? []) await project.addRelease(version);
  } catch (error) {
    await project.cleanup().catch(() => undefined);
    throw error;
  }
  return project;
}

function parseMs(text: string): number {
  const m = /^(\d+)(ms|s)$/.exec(text);
  if (m === null) throw new Error(`use ms or s for test durations, got ${text}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/**
 * Deletes every PM2 process of this home through pm2's API, in a child
 * process (pm2 reads PM2_HOME at import), which ends itself explicitly.
 */
async function deleteAllPm2Processes(cwd: string, env: Record<string, string | undefined>): Promise<{ ok: boolean; error?: string }> {
  const script = `
    const pm2 = require(${JSON.stringify(join(ROOT, 'node_modules', 'pm2'))});
    pm2.connect((error) => {
      if (error) { console.error(String(error)); process.exit(1); }
      pm2.list((error, list) => {
        if (error || list.length === 0) { pm2.disconnect(); process.exit(error ? 1 : 0); }
        pm2.delete('all', (error) => { if (error) console.error(String(error)); pm2.disconnect(); process.exit(error ? 1 : 0); });
      });
    });`;
  const result = await execa(process.execPath, ['-e', script], { cwd, env, extendEnv: true, reject: false, timeout: 30_000, stdin: 'ignore', killSignal: 'SIGKILL' });
  return result.exitCode === 0 ? { ok: true } : { ok: false, error: `${result.stderr}`.trim() || `exit ${result.exitCode}` };
}

// ------------------------------------------------------------------ polling

/** Polls `probe` until it returns something other than undefined; throws with `what` and the last value on timeout. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, opts: { timeoutMs?: number; intervalMs?: number; last?: () => unknown } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const last = opts.last?.();
      throw new Error(`timed out waiting for ${what}${lastError ? `; last error: ${(lastError as Error).message}` : ''}${last !== undefined ? `; last seen: ${JSON.stringify(last)}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

// ------------------------------------------------------------------ nothing left behind

/** Processes whose command line, working folder or environment names one of our folders. */
function processesOfOurs(): Array<{ pid: number; why: string }> {
  const found: Array<{ pid: number; why: string }> = [];
  if (ourPaths.size === 0 || !existsSync('/proc/self')) return found;
  const paths = [...ourPaths];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || !pidAlive(pid)) continue;
    let cmdline = '';
    let cwd = '';
    let environ = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      cwd = readlinkSync(`/proc/${pid}/cwd`);
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    } catch {
      // Gone meanwhile, or not ours to read.
    }
    const hit = paths.find((p) => cmdline.includes(p) || cwd === p || cwd.startsWith(`${p}/`) || environ.includes(`=${p}\0`) || environ.includes(`=${p}/`));
    if (hit !== undefined) found.push({ pid, why: `${cmdline.trim().slice(0, 120)} (mentions ${hit})` });
  }
  return found;
}

/**
 * For a suite's afterAll, after every project's cleanup(): fails when a PM2
 * daemon, router or sample service of ours is still alive (every pid we saw,
 * and any process that names one of our folders), or when ~/.pm2 appeared.
 * Waits a little first: a process SIGKILLed a moment ago may not be reaped yet.
 */
export async function assertNothingLeft(timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let alive: string[] = [];
  for (;;) {
    alive = [
      ...[...trackedPids].filter(([pid]) => pidAlive(pid)).map(([pid, what]) => `${pid} (${what})`),
      ...processesOfOurs().filter((p) => !trackedPids.has(p.pid)).map((p) => `${p.pid} (${p.why})`),
    ];
    if (alive.length === 0 || Date.now() > deadline) break;
    await sleep(100);
  }
  const problems: string[] = [];
  if (alive.length > 0) problems.push(`processes of ours still alive: ${alive.join('; ')}`);
  if (!USER_PM2_EXISTED && existsSync(USER_PM2_HOME)) problems.push(`${USER_PM2_HOME} was created`);
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

/** How many pids assertNothingLeft() checks (for a sanity assertion that it checked something). */
export function trackedPidCount(): number {
  return trackedPids.size;
}
