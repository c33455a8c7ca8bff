import type { ChildProcess } from 'node:child_process';
import { cliHeaders } from './signed.js';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Health } from '../../src/cli/router-client.js';
import type { PolicyInput, ProcessState } from '../../src/core/policy-schema.js';
import { writeFileAtomic } from '../../src/store/atomic-write.js';
import { ChildTracker, captureStderr, isRunning, waitExit } from './child-processes.js';
import { BIN, runCli, type CliResult } from './cli.js';
import { freePort } from './free-port.js';
import { makePm2Home, type Pm2Home } from './pm2-home.js';

/**
 * A real router for integration tests: a temp project folder (config,
 * hand-written policy.json in DESIGN.md's shape, token) and
 * `node bin/switchyard.js router run` as a child process on a free port of
 * 127.0.0.1. Build first (`npm run build`): the child runs dist/.
 *
 *   const router = await startRouter({ mode: 'proxy', policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port }] } }, 1) });
 *   afterAll(() => stopAllRouters());
 *   await fetch(`${router.url}/v1/login`, …);
 *   await router.writePolicy(buildPolicy(…, 2));   // atomic: temp file + rename, as the store writes
 *   await router.waitForGeneration(2);
 *   await router.stop();                            // SIGTERM, waits for exit, removes the folder
 *
 * Every router started here is killed by stopAllRouters() (call it in
 * afterAll), and SIGKILLed when the test worker exits, so none outlives a
 * failed suite. Each gets its own short PM2_HOME (in the config and in its
 * environment): should the router ever talk to PM2, it never touches ~/.pm2,
 * and the daemon it started is ended by pid on stop().
 */

// ---------------------------------------------------------------- policies

export interface ProcessSpec {
  version: string;
  port: number;
  state?: ProcessState;
  /** The #index of the PM2 name; default 0. */
  index?: number;
  address?: string;
}

export interface ServiceSpec {
  target: string | null;
  processes: ProcessSpec[];
  match?: 'exact' | 'patch' | 'minor';
  login?: 'force' | 'allow';
  canary?: { version: string; weight: number } | null;
}

const SINCE = '2026-11-25T10:00:00.000Z';

/** A policy.json document in DESIGN.md's shape (every field written, as the store writes it). */
export function buildPolicy(services: Record<string, ServiceSpec>, generation: number): PolicyInput {
  return {
    schema: 1,
    generation,
    updatedAt: new Date().toISOString(),
    services: Object.fromEntries(
      Object.entries(services).map(([name, s]) => [
        name,
        {
          target: s.target,
          canary: s.canary ?? null,
          match: s.match ?? 'exact',
          login: s.login ?? 'force',
          processes: s.processes.map((p) => ({
            id: `${name}@${p.version}#${p.index ?? 0}`,
            version: p.version,
            host: 'local',
            address: p.address ?? '127.0.0.1',
            port: p.port,
            state: p.state ?? 'active',
            since: SINCE,
            ...(p.state === 'draining' ? { drainDeadline: '2099-01-01T00:00:00.000Z' } : {}),
          })),
        },
      ]),
    ),
  };
}

// ---------------------------------------------------------------- project folder

export interface RouterProjectOptions {
  mode?: 'redirect' | 'proxy';
  /** The policy to write; a string is written as is (broken on purpose, say); null writes no policy file. */
  policy?: PolicyInput | string | null;
  /** router.heartbeatInterval; default 200ms. */
  heartbeatInterval?: string;
  /** router.staleAfter; default 2. */
  staleAfter?: number;
  /** router.maxBodyBytes; default the config's default (64 KiB). */
  maxBodyBytes?: number;
  /** router.listen port; default a free one. */
  port?: number;
  /** More router settings, written as `key: value` (e.g. {versionHeader: 'x-app-version'}). */
  router?: Record<string, unknown>;
  /** YAML appended to the config as is (services, hosts…). */
  extraYaml?: string;
  /** PM2_HOME written as `pm2Home`; default a fresh short folder removed (daemon ended) by cleanup. */
  pm2Home?: string;
}

export interface RouterProject {
  dir: string;
  configPath: string;
  stateDir: string;
  policyPath: string;
  token: string;
  host: string;
  port: number;
  url: string;
  pm2Home: string;
  /** Environment for any child working on this project (PM2_HOME set, no SWITCHYARD_* overrides). */
  env: Record<string, string>;
  /** Writes the policy atomically (temp file in the state folder, fsync, rename), as the store does. */
  writePolicy(policy: PolicyInput): Promise<void>;
  writePolicyText(text: string): Promise<void>;
  /** Removes the folder and ends any PM2 daemon in its own PM2_HOME. */
  cleanup(): Promise<void>;
}

/** Variables that would change the config of a child CLI (env-overrides.ts), or reach the test runner's children. */
const SCRUBBED_ENV = ['NODE_OPTIONS', 'SWITCHYARD_ROUTER_LISTEN', 'SWITCHYARD_ROUTER_MODE', 'SWITCHYARD_HEARTBEAT_INTERVAL', 'SWITCHYARD_STATE_DIR', 'SWITCHYARD_PM2_HOME', 'SWITCHYARD_REDIS_URL', 'PM2_HOME'];

/** process.env without the variables above, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !SCRUBBED_ENV.includes(key)) env[key] = value;
  }
  return { ...env, CI: 'true', NO_COLOR: '1', ...extra };
}

/**
 * Environment for runCli (which extends process.env) on a project: the
 * variables above unset, PM2_HOME set to the project's own.
 */
export function cliEnv(pm2Home: string): Record<string, string | undefined> {
  return { ...Object.fromEntries(SCRUBBED_ENV.map((key) => [key, undefined])), PM2_HOME: pm2Home };
}

/** The built CLI run on `project`'s config with `pm2Home` as PM2_HOME (45 s at the most). */
export function projectCli(project: RouterProject, pm2Home: string): (...args: string[]) => Promise<CliResult> {
  return (...args) => runCli([...args, '--config', project.configPath], { cwd: project.dir, env: cliEnv(pm2Home), timeoutMs: 45_000 });
}

/** The --json document of a run that must have exited 0 (else an error with its output). */
export function jsonOk<T = Record<string, any>>(result: CliResult): T {
  if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export async function writeRouterProject(opts: RouterProjectOptions = {}): Promise<RouterProject> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-router-'));
  const stateDir = join(dir, '.switchyard');
  await mkdir(stateDir, { recursive: true });
  let ownPm2: Pm2Home | undefined;
  let pm2Home = opts.pm2Home;
  if (pm2Home === undefined) {
    ownPm2 = await makePm2Home();
    pm2Home = ownPm2.home;
  }
  const host = '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const token = randomBytes(32).toString('hex');
  const policyPath = join(stateDir, 'policy.json');
  const configPath = join(dir, 'switchyard.config.yaml');

  const project: RouterProject = {
    dir,
    configPath,
    stateDir,
    policyPath,
    token,
    host,
    port,
    url: `http://${host}:${port}`,
    pm2Home,
    env: childEnv({ PM2_HOME: pm2Home }),
    writePolicy: (policy) => writeFileAtomic(policyPath, `${JSON.stringify(policy, null, 2)}\n`),
    writePolicyText: (text) => writeFileAtomic(policyPath, text),
    cleanup: async () => {
      try {
        await ownPm2?.cleanup();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
  await writeFileAtomic(join(stateDir, 'token'), `${token}\n`, 0o600);
  await writeConfig(project, opts);
  if (typeof opts.policy === 'string') await project.writePolicyText(opts.policy);
  else if (opts.policy !== null && opts.policy !== undefined) await project.writePolicy(opts.policy);
  return project;
}

async function writeConfig(project: RouterProject, opts: RouterProjectOptions): Promise<void> {
  const router: Record<string, unknown> = {
    listen: `${project.host}:${project.port}`,
    mode: opts.mode ?? 'redirect',
    heartbeatInterval: opts.heartbeatInterval ?? '200ms',
    staleAfter: opts.staleAfter ?? 2,
    ...(opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...opts.router,
  };
  const lines = ['router:', ...Object.entries(router).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`), `pm2Home: ${JSON.stringify(project.pm2Home)}`];
  await writeFileAtomic(project.configPath, `${lines.join('\n')}\n${opts.extraYaml ?? ''}`);
}

// ---------------------------------------------------------------- the router process

export interface RouterProcess extends RouterProject {
  child: ChildProcess;
  pid: number;
  /** Everything the router wrote to stderr (its log). */
  stderr(): string;
  alive(): boolean;
  /** GET /healthz; undefined when nothing answers. */
  health(timeoutMs?: number): Promise<Health | undefined>;
  /** Polls /healthz (every 5 ms) until `accept` holds; throws with the router's log on timeout. */
  waitForHealth(accept: (h: Health) => boolean, timeoutMs?: number): Promise<Health>;
  /** Polls /healthz until the router serves `generation`. */
  waitForGeneration(generation: number, timeoutMs?: number): Promise<Health>;
  /** SIGTERM, waits for the exit (SIGKILL and an error after `timeoutMs`), then cleanup(). */
  stop(opts?: { timeoutMs?: number; keepDir?: boolean }): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartRouterOptions extends RouterProjectOptions {
  /** Wait for a loaded policy (healthz 200); false: any /healthz answer will do. Default: true when a policy object is given. */
  expectHealthy?: boolean;
  /** More environment for the router. */
  env?: Record<string, string>;
  /** How long to wait for /healthz; default 15 s. */
  startTimeoutMs?: number;
}

const tracker = new ChildTracker();
const running = new Set<RouterProcess>();

process.once('exit', () => {
  for (const router of running) if (router.alive()) router.child.kill('SIGKILL');
});

/** GET /healthz; signed with the CLI's key from the token, the answer has the details (file state, error, mode). */
export async function fetchHealth(url: string, timeoutMs = 1000, token?: string): Promise<Health | undefined> {
  try {
    const headers: Record<string, string> = token === undefined ? {} : cliHeaders(token, '/healthz');
    const response = await fetch(`${url}/healthz`, { headers, signal: AbortSignal.timeout(timeoutMs) });
    return (await response.json()) as Health;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a router (retrying on a fresh port if the picked one was taken meanwhile). */
export async function startRouter(opts: StartRouterOptions = {}): Promise<RouterProcess> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const project = await writeRouterProject(opts);
    try {
      return await spawnRouter(project, opts);
    } catch (error) {
      await project.cleanup().catch(() => undefined);
      lastError = error as Error;
      if (opts.port !== undefined || !/address is in use|EADDRINUSE/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError!;
}

/** Spawns `router run` for a project folder written by writeRouterProject. */
export async function spawnRouter(project: RouterProject, opts: StartRouterOptions = {}): Promise<RouterProcess> {
  const child = tracker.spawn(process.execPath, [BIN, 'router', 'run', '--config', project.configPath], {
    cwd: project.dir,
    env: { ...project.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.resume();
  const stderr = captureStderr(child);
  const expectHealthy = opts.expectHealthy ?? (typeof opts.policy === 'object' && opts.policy !== null);

  const router: RouterProcess = {
    ...project,
    child,
    pid: child.pid ?? -1,
    stderr,
    alive: () => isRunning(child),
    health: (timeoutMs) => fetchHealth(project.url, timeoutMs, project.token),
    async waitForHealth(accept, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Health | undefined;
      while (Date.now() < deadline) {
        if (!isRunning(child)) throw new Error(`the router exited (code ${child.exitCode}, signal ${child.signalCode}); its log:\n${stderr()}`);
        last = await fetchHealth(project.url, 1000, project.token);
        if (last !== undefined && accept(last)) return last;
        await sleep(5);
      }
      throw new Error(`the router's /healthz did not become as expected within ${timeoutMs} ms; last: ${JSON.stringify(last)}; its log:\n${stderr()}`);
    },
    waitForGeneration(generation, timeoutMs) {
      return router.waitForHealth((h) => h.generation === generation, timeoutMs);
    },
    async stop({ timeoutMs = 15_000, keepDir = false } = {}) {
      running.delete(router);
      try {
        const gone = waitExit(child);
        child.kill('SIGTERM');
        const result = await Promise.race([gone, sleep(timeoutMs).then(() => undefined)]);
        if (result === undefined) {
          child.kill('SIGKILL');
          await gone;
          throw new Error(`the router did not exit within ${timeoutMs} ms of SIGTERM; its log:\n${stderr()}`);
        }
        return result;
      } finally {
        if (!keepDir) await project.cleanup();
      }
    },
  };
  running.add(router);

  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (!isRunning(child)) {
      running.delete(router);
      throw new Error(`the router exited before answering /healthz (code ${child.exitCode}); its log:\n${stderr()}`);
    }
    const health = await fetchHealth(project.url, 1000, project.token);
    if (health !== undefined && (!expectHealthy || health.ok)) return router;
    if (Date.now() > deadline) {
      running.delete(router);
      const gone = waitExit(child);
      child.kill('SIGKILL');
      await gone;
      throw new Error(`the router did not answer /healthz${expectHealthy ? ' with a loaded policy' : ''} within ${startTimeoutMs} ms; last: ${JSON.stringify(health)}; its log:\n${stderr()}`);
    }
    await sleep(25);
  }
}

/** Stops every router still running (for afterAll); kills the stubborn ones. */
export async function stopAllRouters(): Promise<void> {
  const routers = [...running];
  const results = await Promise.allSettled(routers.map((r) => r.stop()));
  await tracker.killAll();
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** How many router children are alive (0 after stopAllRouters). */
export function liveRouterCount(): number {
  return tracker.count;
}
