import type { ChildProcess } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import { BIN } from './cli.js';
import { ChildTracker, captureStderr, isRunning, waitExit } from './child-processes.js';
import { freePort } from './free-port.js';
import { cliHeaders } from './signed.js';

/**
 * Several real routers (`switchyard router run`) on one project folder,
 * each on its own free port of 127.0.0.1 (SWITCHYARD_ROUTER_LISTEN), all
 * sharing the project's token and its coordination on Redis.
 *
 *   await useRedis(project.configPath, redis.url, prefix);
 *   const a = await spawnProjectRouter(project.dir, project.env, project.token, project.routerPort);
 *   await a.waitStatus((s) => s.routers.length === 3);
 *   a.child.kill('SIGKILL');
 */

export interface ProjectRouter {
  url: string;
  port: number;
  child: ChildProcess;
  pid: number;
  stderr(): string;
  alive(): boolean;
  /** GET /v1/status signed with the CLI's key; undefined when nothing answers. */
  status(): Promise<any | undefined>;
  waitStatus(accept: (status: any) => boolean, timeoutMs?: number): Promise<any>;
  stop(): Promise<void>;
}

const tracker = new ChildTracker();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Adds coordination on Redis to a project's config. */
export async function useRedis(configPath: string, url: string, prefix: string): Promise<void> {
  await appendFile(configPath, `\ncoordination: { redis: "${url}", prefix: ${prefix} }\n`);
}

export async function spawnProjectRouter(dir: string, env: Record<string, string | undefined>, token: string, port?: number): Promise<ProjectRouter> {
  const listenPort = port ?? (await freePort());
  const url = `http://127.0.0.1:${listenPort}`;
  const child = tracker.spawn(process.execPath, [BIN, 'router', 'run'], {
    cwd: dir,
    env: { ...process.env, ...env, SWITCHYARD_ROUTER_LISTEN: `127.0.0.1:${listenPort}`, NO_COLOR: '1', CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.resume();
  const stderr = captureStderr(child);
  const status = async () => {
    try {
      const response = await fetch(`${url}/v1/status`, { headers: cliHeaders(token), signal: AbortSignal.timeout(2000) });
      return response.ok ? await response.json() : undefined;
    } catch {
      return undefined;
    }
  };
  const router: ProjectRouter = {
    url,
    port: listenPort,
    child,
    pid: child.pid ?? -1,
    stderr,
    alive: () => isRunning(child),
    status,
    async waitStatus(accept, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      while (Date.now() < deadline) {
        if (!isRunning(child)) throw new Error(`the router on ${url} exited; its log:\n${stderr()}`);
        last = await status();
        if (last !== undefined && accept(last)) return last;
        await sleep(20);
      }
      throw new Error(`the router on ${url} did not reach the expected status within ${timeoutMs} ms; last: ${JSON.stringify(last)}; its log:\n${stderr()}`);
    },
    async stop() {
      if (!isRunning(child)) return;
      const gone = waitExit(child);
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const done = await Promise.race([gone, sleep(15_000).then(() => undefined)]);
      if (done === undefined) {
        child.kill('SIGKILL');
        await gone;
      }
    },
  };
  await router.waitStatus(() => true);
  return router;
}

/** The router that holds the drain leader's lease, as a status lists the routers. */
export function leaderOf(status: { routers?: Array<{ url: string; leader: boolean }> }): string | undefined {
  const leaders = (status.routers ?? []).filter((r) => r.leader);
  return leaders.length === 1 ? leaders[0]!.url : undefined;
}
