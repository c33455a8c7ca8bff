import { cliHeaders } from './signed.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { freePort } from './free-port.js';
import { spawnRouter, writeRouterProject, type RouterProcess, type RouterProject, type StartRouterOptions } from './router-process.js';

/**
 * A real router whose data plane is a real HAProxy (router.dataPlane:
 * haproxy), for the HAProxy suites. The router owns HAProxy; a test that
 * kills the router with SIGKILL leaves HAProxy running on purpose, so
 * stop() ends it by the pid in its pid file.
 */

export function haproxyInstalled(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Prints the one visible line the suites show when they skip. */
export function haproxyMissing(): boolean {
  const missing = !haproxyInstalled();
  if (missing) console.warn('skipping: install haproxy (apt-get install haproxy)');
  return missing;
}

export interface HaproxyRouter extends RouterProcess {
  /** HAProxy's public address. */
  edge: string;
  edgePort: number;
  haproxyDir: string;
  api: RuntimeApi;
  workerPid(): Promise<number>;
  masterPid(): number | undefined;
  /** /v1/status's dataPlane. */
  dataPlane(): Promise<{ kind: string; generation: number | null; ok: boolean; error: string | null }>;
  /** Polls until HAProxy has applied `generation`. */
  waitApplied(generation: number, timeoutMs?: number): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startHaproxyRouter(opts: StartRouterOptions = {}): Promise<HaproxyRouter> {
  const edgePort = await freePort();
  const project = await writeRouterProject({
    mode: 'proxy',
    ...opts,
    router: { dataPlane: 'haproxy', haproxy: { listen: `127.0.0.1:${edgePort}`, threads: 1 }, ...opts.router },
  });
  return respawnHaproxyRouter(project, edgePort, opts);
}

/** A router (again) on a project folder written before, e.g. after the first one was killed. */
export async function respawnHaproxyRouter(project: RouterProject, edgePort: number, opts: StartRouterOptions = {}): Promise<HaproxyRouter> {
  const router = await spawnRouter(project, { startTimeoutMs: 30_000, ...opts });
  const haproxyDir = join(project.stateDir, 'haproxy');
  const api = new RuntimeApi(join(haproxyDir, 'admin.sock'));
  const masterPid = (): number | undefined => {
    try {
      return Number.parseInt(readFileSync(join(haproxyDir, 'haproxy.pid'), 'utf8'), 10) || undefined;
    } catch {
      return undefined;
    }
  };
  const dataPlane = async () => {
    const response = await fetch(`${project.url}/v1/status`, { headers: cliHeaders(project.token), signal: AbortSignal.timeout(5000) });
    return ((await response.json()) as { dataPlane: Awaited<ReturnType<HaproxyRouter['dataPlane']>> }).dataPlane;
  };
  const stopRouter = router.stop;
  const h: HaproxyRouter = Object.assign(router, {
    edge: `http://127.0.0.1:${edgePort}`,
    edgePort,
    haproxyDir,
    api,
    workerPid: () => api.workerPid(),
    masterPid,
    dataPlane,
    async waitApplied(generation: number, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        last = await dataPlane().catch((e: Error) => e.message);
        if (typeof last === 'object' && last !== null && (last as { generation: number }).generation === generation && (last as { ok: boolean }).ok) return;
        await sleep(20);
      }
      throw new Error(`HAProxy did not apply generation ${generation} within ${timeoutMs} ms; last dataPlane: ${JSON.stringify(last)}; router log:\n${router.stderr()}`);
    },
    async stop(stopOpts?: Parameters<RouterProcess['stop']>[0]) {
      const master = masterPid();
      try {
        return router.alive() ? await stopRouter({ ...stopOpts, keepDir: true }) : { code: router.child.exitCode, signal: router.child.signalCode };
      } finally {
        // A HAProxy the router left behind (it was killed) is ours to end.
        const left = masterPid() ?? master;
        if (left !== undefined) {
          try {
            process.kill(left, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        if (!stopOpts?.keepDir) await project.cleanup();
      }
    },
  });
  return h;
}
