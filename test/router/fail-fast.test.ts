import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { waitExit } from '../helpers/child-processes.js';
import { makePm2Home, USER_PM2_HOME, type Pm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, childEnv, cliEnv, writeRouterProject, type RouterProject } from '../helpers/router-process.js';

/**
 * A router that cannot listen fails at once: `router run` says the address
 * is in use and by which process, and exits non-zero within about a second
 * even with an IPC channel open (as under PM2); `router start` (the built
 * CLI, a real PM2 in a temp PM2_HOME) fails within a couple of seconds and
 * leaves nothing in PM2.
 */

const PM2_BIN = resolve(import.meta.dirname, '../../node_modules/.bin/pm2');
const execFileP = promisify(execFile);
const userPm2Existed = existsSync(USER_PM2_HOME);
const policy = buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 1);

let pm2: Pm2Home;
let busy: Server;
let busyPort: number;
const projects: RouterProject[] = [];

beforeAll(async () => {
  pm2 = await makePm2Home();
  busy = createServer((socket) => socket.destroy());
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  busyPort = (busy.address() as { port: number }).port;
});

afterAll(async () => {
  try {
    await new Promise((r) => busy?.close(r));
    await pm2?.cleanup();
    await Promise.all(projects.map((p) => p.cleanup()));
  } finally {
    if (!userPm2Existed) expect(existsSync(USER_PM2_HOME), `${USER_PM2_HOME} was created`).toBe(false);
  }
});

async function project(router: Record<string, string | number> = {}): Promise<RouterProject> {
  const p = await writeRouterProject({ mode: 'redirect', pm2Home: pm2.home, port: busyPort, policy, router });
  projects.push(p);
  return p;
}

/** The names of every process the temp PM2 runs (none when no daemon runs). */
async function pm2Names(): Promise<string[]> {
  if (pm2.daemonPid() === undefined) return [];
  const { stdout } = await execFileP(PM2_BIN, ['jlist'], { env: { ...childEnv(), PM2_HOME: pm2.home }, timeout: 20_000 });
  // jlist may print a line before its JSON when it had to start a daemon.
  const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as { name: string }[];
  return list.map((p) => p.name);
}

describe('a router that cannot listen fails fast', () => {
  it('router run on a busy port: names the holder and exits non-zero within about a second, IPC channel or not', async () => {
    const p = await project();
    for (const ipc of [false, true]) {
      const started = Date.now();
      const child = spawn(process.execPath, [BIN, 'router', 'run', '--config', p.configPath], {
        cwd: p.dir,
        env: p.env,
        stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const exit = await waitExit(child);
      clearTimeout(killer);
      const tookMs = Date.now() - started;
      console.log(`router run on a busy port (${ipc ? 'with' : 'without'} an IPC channel): exit ${exit.code} after ${tookMs} ms (node start-up included)`);
      expect(exit.code, stderr).toBe(1);
      expect(stderr).toContain(`Cannot listen on 127.0.0.1:${busyPort}: the address is in use by pid ${process.pid}`);
      // About a second on an idle machine; node's start-up dominates, so a loaded one gets room.
      expect(tookMs).toBeLessThan(8000);
    }
  });

  it('router start on a busy port: non-zero at once, nothing left in PM2', async () => {
    const p = await project();
    const started = Date.now();
    const result = await runCli(['router', 'start', '--config', p.configPath], { cwd: p.dir, env: cliEnv(pm2.home), timeoutMs: 30_000 });
    const tookMs = Date.now() - started;
    console.log(`router start on a busy port: exit ${result.exitCode} after ${tookMs} ms`);
    expect(result.exitCode, result.stderr).toBe(1);
    // Naming the holder is best effort (checked strictly for router run above).
    expect(result.stderr).toMatch(new RegExp(`the address is in use by (pid ${process.pid} |another process)`));
    expect(tookMs).toBeLessThan(5000);
    expect(await pm2Names()).toEqual([]);
  });

  it('router start of a router that exits under PM2 (an address not on this machine): non-zero within seconds, removed from PM2, with the log tail', async () => {
    const p = await project({ listen: `192.0.2.1:${busyPort}` });
    const started = Date.now();
    const result = await runCli(['router', 'start', '--config', p.configPath], { cwd: p.dir, env: cliEnv(pm2.home), timeoutMs: 30_000 });
    const tookMs = Date.now() - started;
    console.log(`router start whose router exits under PM2: exit ${result.exitCode} after ${tookMs} ms`);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/The router exited while starting/);
    expect(result.stderr).toContain('it was removed from PM2');
    expect(result.stderr).toContain('Cannot listen on 192.0.2.1');
    expect(tookMs).toBeLessThan(15_000);
    expect(await pm2Names()).toEqual([]);
  });

  it('router start on a busy port while a PM2 daemon runs in its home: non-zero at once, nothing left in PM2', async () => {
    expect(pm2.daemonPid(), 'the previous case left a daemon running').toBeGreaterThan(0);
    const p = await project();
    const started = Date.now();
    const result = await runCli(['router', 'start', '--config', p.configPath], { cwd: p.dir, env: cliEnv(pm2.home), timeoutMs: 30_000 });
    const tookMs = Date.now() - started;
    console.log(`router start on a busy port, PM2 daemon up: exit ${result.exitCode} after ${tookMs} ms`);
    expect(result.exitCode, result.stderr).toBe(1);
    // Naming the holder is best effort (checked strictly for router run above).
    expect(result.stderr).toMatch(new RegExp(`the address is in use by (pid ${process.pid} |another process)`));
    expect(tookMs).toBeLessThan(5000);
    expect(await pm2Names()).toEqual([]);
  });
});
