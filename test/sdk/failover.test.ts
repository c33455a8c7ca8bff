import type { ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, login, type Failover, type RetryCounter } from '../../src/sdk/client.js';
import { startHeartbeat } from '../../src/sdk/heartbeat.js';
import { deriveKey } from '../../src/protocol/signing.js';
import { captureStderr, ChildTracker, isRunning, waitExit } from '../helpers/child-processes.js';
import { BIN, runCli } from '../helpers/cli.js';
import { freePort, freePorts } from '../helpers/free-port.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, fetchHealth, writeRouterProject, type RouterProject } from '../helpers/router-process.js';
import { cliHeaders } from '../helpers/signed.js';

/**
 * Several routers listed in router.url: three `switchyard router run
 * --listen` children of one project (one config, one state folder, one
 * policy) on free ports. The client SDK, the heartbeat SDK and the CLI fail
 * over when a router is SIGKILLed, refuses connections, times out or answers
 * 503, and every failover is counted: the counts asserted are exact because
 * the order the routers are asked in is fixed (the list, sticky to the one
 * that last answered).
 */

const checkUserPm2 = guardUserPm2Home();
const PROCESS = 'lobby@1.5.0#0';
const tracker = new ChildTracker();
const servers: Server[] = [];
const sockets = new Set<Socket>();
let project: RouterProject;
let urls: string[];
const routers: Array<{ child: ChildProcess; stderr: () => string }> = [];

async function listen<T extends Server>(server: T): Promise<string> {
  servers.push(server);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

/** An HTTP server that answers 503 to everything (an overloaded router or its proxy), counting requests. */
async function answering503(): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const url = await listen(createHttpServer((req, res) => {
    requests += 1;
    req.resume();
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"overloaded","message":"try another router"}');
  }));
  return { url, requests: () => requests };
}

async function kill(index: number): Promise<void> {
  const { child } = routers[index]!;
  const gone = waitExit(child);
  child.kill('SIGKILL');
  await gone;
  expect(await fetchHealth(urls[index]!, 500)).toBeUndefined();
}

async function terminalsSeenBy(url: string): Promise<number | undefined> {
  const response = await fetch(`${url}/v1/status`, { headers: cliHeaders(project.token) });
  const body = (await response.json()) as { services: Record<string, { processes: Array<{ id: string; terminals: number }> }> };
  return body.services.lobby?.processes.find((p) => p.id === PROCESS)?.terminals;
}

beforeAll(async () => {
  const ports = await freePorts(3);
  urls = ports.map((p) => `http://127.0.0.1:${p}`);
  project = await writeRouterProject({
    port: ports[0],
    heartbeatInterval: '1s',
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 3),
    router: { url: urls },
  });
  for (const port of ports) {
    const child = tracker.spawn(process.execPath, [BIN, 'router', 'run', '--listen', `127.0.0.1:${port}`, '--config', project.configPath], {
      cwd: project.dir,
      env: project.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.resume();
    routers.push({ child, stderr: captureStderr(child) });
  }
  for (const [i, url] of urls.entries()) {
    const deadline = Date.now() + 15_000;
    while ((await fetchHealth(url, 500))?.ok !== true) {
      if (!isRunning(routers[i]!.child) || Date.now() > deadline) throw new Error(`the router on ${url} did not start; its log:\n${routers[i]!.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((done) => s.close(() => done()))));
  await tracker.killAll();
  await project?.cleanup();
  checkUserPm2();
});

describe('heartbeat SDK with several routers', () => {
  const start = (routerUrl: string | string[], failovers: Failover[], errors: Error[], terminals = 3) => startHeartbeat({
    routerUrl,
    token: deriveKey(project.token, PROCESS),
    service: 'lobby',
    version: '1.5.0',
    process: PROCESS,
    intervalMs: 60_000,
    terminals: () => ({ '1.5.0': terminals }),
    onFailover: (f) => failovers.push(f),
    onError: (e) => errors.push(e),
  });

  async function firstBeat(hb: { sent: number; failed: number }): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (hb.sent + hb.failed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  it('fails over to the second URL when the first refuses connections, then sticks to it', async () => {
    const refused = `http://127.0.0.1:${await freePort()}`;
    const failovers: Failover[] = [];
    const errors: Error[] = [];
    const hb = start(`${refused},${urls[2]}`, failovers, errors, 4);
    await firstBeat(hb);
    expect(hb).toMatchObject({ sent: 1, failed: 0, failovers: 1 });
    expect(failovers).toHaveLength(1);
    expect(failovers[0]).toMatchObject({ url: refused, next: urls[2] });
    expect(failovers[0]!.reason.message).toMatch(/ECONNREFUSED/);
    expect(errors.map((e) => e.message)).toEqual([failovers[0]!.reason.message]);
    // The router that took the beat has it in its tally.
    expect(await terminalsSeenBy(urls[2]!)).toBe(4);
    // Sticky: the next beat goes straight to the router that answered.
    expect(await hb.beat()).toBe(true);
    expect(hb).toMatchObject({ sent: 2, failed: 0, failovers: 1 });
    await hb.stop();
  });

  it('fails over to the second URL when the first answers 503', async () => {
    const busy = await answering503();
    const failovers: Failover[] = [];
    const hb = start([busy.url, urls[2]!], failovers, []);
    await firstBeat(hb);
    expect(hb).toMatchObject({ sent: 1, failed: 0, failovers: 1 });
    expect(failovers[0]).toMatchObject({ url: busy.url, next: urls[2] });
    expect(failovers[0]!.reason.message).toMatch(/503/);
    expect(await hb.beat()).toBe(true);
    expect(busy.requests()).toBe(1);
    expect(hb.failovers).toBe(1);
    await hb.stop();
  });

  it('with every router failing, the beat fails, counting a failover per router left behind', async () => {
    const busy = await answering503();
    const refused = `http://127.0.0.1:${await freePort()}`;
    const failovers: Failover[] = [];
    const errors: Error[] = [];
    const hb = start([busy.url, refused], failovers, errors);
    await firstBeat(hb);
    expect(hb).toMatchObject({ sent: 0, failed: 1, failovers: 1 });
    expect(errors).toHaveLength(2);
    expect(errors[1]!.message).toMatch(/ECONNREFUSED/);
    await hb.stop();
  });
});

describe('client SDK and CLI with one of three routers killed', () => {
  const seen: Failover[] = [];
  let client: ReturnType<typeof createClient>;

  beforeAll(() => {
    client = createClient({ router: urls.join(','), service: 'lobby', retries: 0, timeoutMs: 2000, onFailover: (f) => seen.push(f) });
  });

  const logins = async (n: number) => {
    const made = [];
    for (let i = 0; i < n; i += 1) made.push(await client.login({ version: '1.5.0', terminal: `t-${i}` }));
    return made;
  };

  it('all routers up: logins go to the first, no failover', async () => {
    const made = await logins(5);
    expect(made.every((m) => m.port === 7501 && m.failovers === 0)).toBe(true);
    expect(client.failovers).toBe(0);
  });

  it('the first router SIGKILLed: the next login fails over once, later ones stick to the second router', async () => {
    await kill(0);
    const made = await logins(5);
    expect(made.map((m) => m.failovers)).toEqual([1, 0, 0, 0, 0]);
    expect(made.every((m) => m.port === 7501 && m.retries === 0)).toBe(true);
    expect(client.failovers).toBe(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ url: urls[0], next: urls[1] });
    expect(seen[0]!.reason.message).toMatch(/ECONNREFUSED/);
  });

  it('the second router SIGKILLed too: back to the list order past the sticky one, two failovers, then the third sticks', async () => {
    await kill(1);
    const made = await logins(3);
    expect(made.map((m) => m.failovers)).toEqual([2, 0, 0]);
    expect(client.failovers).toBe(3);
    expect(seen.slice(1).map((f) => [f.url, f.next])).toEqual([[urls[1], urls[0]], [urls[0], urls[2]]]);
  });

  it('a plain login (no client) asks in list order every time, and a counter adds the failovers up', async () => {
    const counter: RetryCounter = { retries: 0 };
    for (let i = 0; i < 3; i += 1) {
      const made = await login({ router: urls, service: 'lobby', version: '1.5.0', terminal: `p-${i}`, retries: 0, counter });
      expect(made).toMatchObject({ port: 7501, failovers: 2, retries: 0 });
    }
    expect(counter).toEqual({ retries: 0, failovers: 6 });
  });

  it('a router that never answers is failed over after the per-attempt timeout', async () => {
    const silent = await listen(createNetServer((socket) => socket.on('error', () => undefined)));
    const started = Date.now();
    const made = await login({ router: [silent, urls[2]!], service: 'lobby', version: '1.5.0', terminal: 'slow', retries: 0, timeoutMs: 300 });
    expect(made.failovers).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('status --json fails over past the dead routers and says so, on stderr and in router.failovers', async () => {
    const result = await runCli(['status', '--json', '--config', project.configPath], { cwd: project.dir, env: project.env, timeoutMs: 30_000 });
    expect(result.exitCode, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout) as { router: { url: string; up: boolean; failovers: Array<{ url: string; reason: string; next: string }> } };
    expect(doc.router).toEqual({
      url: urls[2],
      up: true,
      failovers: [{ url: urls[0], reason: 'ECONNREFUSED', next: urls[1] }, { url: urls[1], reason: 'ECONNREFUSED', next: urls[2] }],
    });
    expect(result.stderr).toContain(`the router at ${urls[0]} failed (ECONNREFUSED): failed over to ${urls[1]}`);
    expect(result.stderr).toContain(`the router at ${urls[1]} failed (ECONNREFUSED): failed over to ${urls[2]}`);
  });
});
