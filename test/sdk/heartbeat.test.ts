import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHeartbeat, type Heartbeat, type HeartbeatOptions } from '../../src/sdk/heartbeat.js';
import { deriveKey } from '../../src/protocol/signing.js';
import { cliHeaders } from '../helpers/signed.js';
import { captureStderr, isRunning, waitExit } from '../helpers/child-processes.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, childEnv, spawnRouter, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * switchyard/heartbeat against a real router child (router-process helper)
 * whose hand-written policy lists lobby@1.5.0#0..#4. The router counts
 * with heartbeatInterval 500 ms and staleAfter 2 (stale after 1 s); the SDK
 * beats every 100 ms so the tests are quick. Timing is only asserted
 * loosely: the status is polled until it shows what is expected.
 */

const checkUserPm2 = guardUserPm2Home();
const HEARTBEAT_DIST = pathToFileURL(resolve(import.meta.dirname, '../../dist/sdk/heartbeat.js')).href;
const POLICY = buildPolicy(
  { lobby: { target: '1.5.0', processes: [0, 1, 2, 3, 4].map((index) => ({ version: '1.5.0', port: 7501 + index, index })) } },
  1,
);

interface StatusProcess {
  id: string;
  state: string;
  heartbeat: { ageMs: number | null; stale: boolean };
  terminals: number;
}
interface Status {
  services: Record<string, { processes: StatusProcess[]; tally: Array<{ version: string; terminals: number; share: number }> }>;
}

let router: RouterProcess;
const beats: Heartbeat[] = [];
const children: ChildProcess[] = [];
let scratch: string;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function status(on: RouterProcess = router): Promise<Status> {
  const response = await fetch(`${on.url}/v1/status`, { headers: cliHeaders(on.token), signal: AbortSignal.timeout(2000) });
  expect(response.status).toBe(200);
  return (await response.json()) as Status;
}

const proc = (s: Status, id: string): StatusProcess => s.services.lobby!.processes.find((p) => p.id === id)!;

/** Polls until `check` passes (it throws while it does not); returns its value. */
async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await sleep(everyMs);
  }
}

/** The settings switchyard gives process `index` of lobby@1.5.0. */
function processEnv(index: number, on: RouterProcess = router): Record<string, string> {
  return {
    SWITCHYARD_ROUTER_URL: on.url,
    // The process's own key, derived from the router's secret as switchyard derives it.
    SWITCHYARD_TOKEN: deriveKey(on.token, `lobby@1.5.0#${index}`),
    SWITCHYARD_SERVICE: 'lobby',
    SWITCHYARD_VERSION: '1.5.0',
    SWITCHYARD_PROCESS: `lobby@1.5.0#${index}`,
    SWITCHYARD_HEARTBEAT_MS: '100',
  };
}

function start(index: number, options: Omit<HeartbeatOptions, 'env'> & { env?: Record<string, string> }, on: RouterProcess = router): Heartbeat {
  const hb = startHeartbeat({ ...options, env: options.env ?? processEnv(index, on) });
  beats.push(hb);
  return hb;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sy-sdk-hb-'));
  router = await startRouter({ policy: POLICY, heartbeatInterval: '500ms', staleAfter: 2 });
});

afterEach(async () => {
  await Promise.allSettled(beats.splice(0).map((hb) => hb.stop()));
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (!isRunning(child)) return;
      const gone = waitExit(child);
      child.kill('SIGKILL');
      await gone;
    }),
  );
});

afterAll(async () => {
  await stopAllRouters();
  await rm(scratch, { recursive: true, force: true });
  checkUserPm2();
});

describe('heartbeats reach a real router', () => {
  it('counts the terminals of map, record and iterable forms, per process and in the tally', async () => {
    const held = new Map([['1.5.0', 3], ['1.4.0', 1]]);
    start(0, { terminals: () => held });
    start(1, { terminals: () => ({ '1.5.0': 2 }) });
    // An iterable of versions, one per terminal: here a fresh iterator each beat, as the sample service gives.
    const sessions = new Map<object, string>([[{}, '1.5.0'], [{}, '1.4.0'], [{}, '1.4.0'], [{}, '1.3.0']]);
    start(2, { terminals: () => sessions.values() });

    const seen = await eventually(async () => {
      const s = await status();
      expect([0, 1, 2].map((i) => proc(s, `lobby@1.5.0#${i}`).terminals)).toEqual([4, 2, 4]);
      expect(s.services.lobby!.tally).toEqual([
        { version: '1.5.0', terminals: 6, share: 0.6 },
        { version: '1.4.0', terminals: 3, share: 0.3 },
        { version: '1.3.0', terminals: 1, share: 0.1 },
      ]);
      return s;
    });
    for (const i of [0, 1, 2]) {
      const p = proc(seen, `lobby@1.5.0#${i}`);
      expect(p.heartbeat.stale).toBe(false);
      expect(p.heartbeat.ageMs).toBeLessThan(1000);
    }

    // terminals() is asked at every beat: the status follows the app.
    held.set('1.5.0', 7).delete('1.4.0');
    await eventually(async () => {
      const s = await status();
      expect(proc(s, 'lobby@1.5.0#0').terminals).toBe(7);
      // 1.5.0: 7 + 2 + 1, 1.4.0: 2, 1.3.0: 1 (shares are rounded to 4 places).
      expect(s.services.lobby!.tally.map((t) => [t.version, t.terminals])).toEqual([['1.5.0', 10], ['1.4.0', 2], ['1.3.0', 1]]);
      expect(s.services.lobby!.tally[0]!.share).toBeCloseTo(10 / 13, 3);
    });
  });

  it('reads its settings from the environment switchyard gives a process, interval included', async () => {
    const hb = start(3, { terminals: () => ['1.5.0', '1.5.0'] });
    await eventually(async () => expect(proc(await status(), 'lobby@1.5.0#3').terminals).toBe(2));
    const before = hb.sent;
    await sleep(1000);
    // SWITCHYARD_HEARTBEAT_MS=100: about 10 beats a second (jitter ±10%), not the 5 s default.
    expect(hb.sent - before).toBeGreaterThanOrEqual(5);
    expect(hb.sent - before).toBeLessThanOrEqual(13);
    expect(hb.failed).toBe(0);
  });

  it('stop() sends one last heartbeat and then nothing more', async () => {
    const held = new Map([['1.5.0', 5]]);
    const hb = startHeartbeat({ terminals: () => held, env: processEnv(4) });
    await eventually(async () => expect(proc(await status(), 'lobby@1.5.0#4').terminals).toBe(5));
    held.clear();
    const sentBefore = hb.sent;
    await hb.stop();
    // The last heartbeat has been answered when stop() resolves: the router already knows.
    // (+2 when a timed beat was in flight as stop() was called.)
    expect(hb.sent).toBeGreaterThanOrEqual(sentBefore + 1);
    expect(hb.sent).toBeLessThanOrEqual(sentBefore + 2);
    expect(proc(await status(), 'lobby@1.5.0#4').terminals).toBe(0);
    const sentAtStop = hb.sent;
    await sleep(500);
    expect(hb.sent).toBe(sentAtStop);
    expect(hb.failed).toBe(0);
  });

  it('reports a refused heartbeat (bad key) to onError without throwing', async () => {
    const errors: Error[] = [];
    // The router's secret itself is not a process key either.
    const hb = start(0, { terminals: () => ({}), env: { ...processEnv(0), SWITCHYARD_TOKEN: router.token }, onError: (e) => errors.push(e) });
    await eventually(() => expect(errors.length).toBeGreaterThanOrEqual(1));
    expect(errors[0]!.message).toMatch(/401/);
    expect(hb.sent).toBe(0);
    expect(hb.failed).toBe(errors.length);
  });
});

describe('settings', () => {
  // Nothing listens on port 9 here: these cases are about reading the settings, not sending.
  const ALL = { ...processEnv(0, { url: 'http://127.0.0.1:9', token: 'x' } as RouterProcess) };

  it.each(['SWITCHYARD_ROUTER_URL', 'SWITCHYARD_TOKEN', 'SWITCHYARD_SERVICE', 'SWITCHYARD_VERSION', 'SWITCHYARD_PROCESS'])(
    'a missing %s is a clear error naming it',
    (name) => {
      const env: Record<string, string> = { ...ALL };
      delete env[name];
      expect(() => startHeartbeat({ terminals: () => ({}), env })).toThrow(name);
      expect(() => startHeartbeat({ terminals: () => ({}), env: { ...ALL, [name]: '' } })).toThrow(name);
    },
  );

  it('a router URL that is not a URL is a clear error naming it', () => {
    expect(() => startHeartbeat({ terminals: () => ({}), env: { ...ALL, SWITCHYARD_ROUTER_URL: '127.0.0.1 7400' } })).toThrow(/SWITCHYARD_ROUTER_URL must be a URL/);
  });

  it('an option given in code wins over the environment', () => {
    const env: Record<string, string> = { ...ALL };
    delete env.SWITCHYARD_TOKEN;
    const hb = startHeartbeat({ terminals: () => ({}), env, token: 'from-code', intervalMs: 60_000, onError: () => undefined });
    beats.push(hb);
    expect(hb.sent).toBe(0);
  });

  it.each(['abc', '0', '-5'])('SWITCHYARD_HEARTBEAT_MS=%j is refused with a clear error instead of beating in a tight loop', (value) => {
    expect(() => startHeartbeat({ terminals: () => ({}), env: { ...ALL, SWITCHYARD_HEARTBEAT_MS: value } })).toThrow('SWITCHYARD_HEARTBEAT_MS');
    expect(() => startHeartbeat({ terminals: () => ({}), env: ALL, intervalMs: Number(value) })).toThrow('intervalMs');
  });

  it('an empty SWITCHYARD_HEARTBEAT_MS means unset: the 5 s default', () => {
    const hb = startHeartbeat({ terminals: () => ({}), env: { ...ALL, SWITCHYARD_HEARTBEAT_MS: '' }, onError: () => undefined });
    beats.push(hb);
    expect(hb.sent).toBe(0);
  });
});

describe('the router goes away and comes back', () => {
  it('does not throw into the app, counts failures, retries at the interval, and resumes on the same port', async () => {
    const own = await startRouter({ policy: POLICY, heartbeatInterval: '500ms', staleAfter: 2 });
    const failures: number[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let restarted: RouterProcess | undefined;
    try {
      const hb = start(0, { terminals: () => ({ '1.5.0': 4 }), onError: () => failures.push(Date.now()) }, own);
      await eventually(async () => expect(proc(await status(own), 'lobby@1.5.0#0').terminals).toBe(4));
      const sentBeforeOutage = hb.sent;

      await own.stop({ keepDir: true });
      const downAt = Date.now();
      await sleep(2500);
      expect(hb.failed).toBeGreaterThanOrEqual(2);
      expect(hb.failed).toBe(failures.length);
      expect(hb.sent).toBeLessThanOrEqual(sentBeforeOutage + 1); // at most one in flight when the router went
      // Nothing listens (a restarting router): retried at the interval (~25 tries of 100 ms beats in 2.5 s),
      // never faster, so the tally is whole again within one interval of the router's return.
      expect(hb.failed).toBeLessThanOrEqual(30);
      const gaps = failures.slice(1).map((t, i) => t - failures[i]!);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(85);
      expect(failures[0]! - downAt).toBeLessThan(1000);

      // Same port, same project folder: a fresh router that has never heard of the process.
      restarted = await spawnRouter(own, { policy: POLICY, expectHealthy: true });
      const failedAtRestart = hb.failed;
      const sentAtRestart = hb.sent;
      const fresh = await eventually(async () => {
        const p = proc(await status(restarted), 'lobby@1.5.0#0');
        expect(p.terminals).toBe(4);
        expect(p.heartbeat.stale).toBe(false);
        return p;
      }, 5000);
      expect(fresh.heartbeat.ageMs).not.toBeNull();
      expect(fresh.heartbeat.ageMs!).toBeLessThan(1000);
      // The router counts a beat before the SDK has read its answer: give the SDK a moment to count it too.
      await eventually(async () => expect(hb.sent).toBeGreaterThan(sentAtRestart), 2000);
      // Back to the normal interval once one beat got through: several more counted, no new failures.
      const sentResumed = hb.sent;
      await sleep(600);
      expect(hb.sent - sentResumed).toBeGreaterThanOrEqual(3);
      expect(hb.failed).toBeLessThanOrEqual(failedAtRestart + 1);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await Promise.allSettled(beats.splice(0).map((hb) => hb.stop()));
      if (restarted !== undefined) await restarted.stop();
      else await own.cleanup();
    }
  });
});

describe('a service process using the SDK', () => {
  /** A child `node` running the built SDK (dist/) with the environment switchyard gives a process. */
  async function runChild(index: number, body: string): Promise<{ child: ChildProcess; stdout: () => string; stderr: () => string }> {
    const script = join(scratch, `child-${index}-${Date.now()}.mjs`);
    await writeFile(script, `import { startHeartbeat } from ${JSON.stringify(HEARTBEAT_DIST)};\n${body}\n`);
    const child = spawn(process.execPath, [script], { env: childEnv(processEnv(index)), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    return { child, stdout: () => out, stderr: captureStderr(child) };
  }

  it('exits on its own after stop(), having sent its last heartbeat', async () => {
    const { child, stdout, stderr } = await runChild(1, `
      const hb = startHeartbeat({ terminals: () => new Map([['1.5.0', 3]]), onError: (e) => console.error('onError', e.message) });
      const wait = setInterval(async () => {
        if (hb.sent < 3) return;
        clearInterval(wait);
        await hb.stop();
        console.log(JSON.stringify({ stopped: Date.now(), sent: hb.sent, failed: hb.failed }));
      }, 20);
    `);
    const exit = await Promise.race([waitExit(child), sleep(8000).then(() => undefined)]);
    expect(exit, `the child did not exit on its own after stop(); stdout: ${stdout()} stderr: ${stderr()}`).toEqual({ code: 0, signal: null });
    const report = JSON.parse(stdout().trim()) as { stopped: number; sent: number; failed: number };
    expect(report.sent).toBeGreaterThanOrEqual(4);
    expect(report.failed).toBe(0);
    // The router saw it: a fresh heartbeat with its 3 terminals.
    const p = proc(await status(), 'lobby@1.5.0#1');
    expect(p.heartbeat.ageMs).not.toBeNull();
    expect(p.terminals).toBe(3);
  });

  it('never keeps the process alive by itself: with nothing else to do, it exits after the first beat', async () => {
    const { child, stdout, stderr } = await runChild(2, `
      const hb = startHeartbeat({ terminals: () => ['1.2.0', '1.2.0'] });
      process.on('exit', () => console.log(JSON.stringify({ sent: hb.sent, failed: hb.failed })));
    `);
    const exit = await Promise.race([waitExit(child), sleep(5000).then(() => undefined)]);
    expect(exit, `the heartbeat kept the child alive; stderr: ${stderr()}`).toEqual({ code: 0, signal: null });
    expect(JSON.parse(stdout().trim())).toEqual({ sent: 1, failed: 0 });
    const s = await status();
    expect(proc(s, 'lobby@1.5.0#2').terminals).toBe(2);
  });

  it('backs off (up to 4 intervals) while the router answers with errors', async () => {
    const failing = createServer((req, res) => req.resume().on('end', () => res.writeHead(503).end('{"error":"busy"}')));
    await new Promise<void>((done) => failing.listen(0, '127.0.0.1', done));
    const { port } = failing.address() as AddressInfo;
    const failures: number[] = [];
    try {
      const hb = start(4, { terminals: () => ({}), routerUrl: `http://127.0.0.1:${port}`, onError: () => failures.push(Date.now()) });
      await sleep(2500);
      // 100 ms beats with no backoff would be ~25 tries in 2.5 s; backing off to 4 intervals makes ~7.
      expect(hb.failed).toBeGreaterThanOrEqual(2);
      expect(hb.failed).toBeLessThanOrEqual(10);
      const gaps = failures.slice(1).map((t, i) => t - failures[i]!);
      expect(Math.max(...gaps)).toBeGreaterThanOrEqual(300);
    } finally {
      await Promise.allSettled(beats.splice(0).map((hb) => hb.stop()));
      await new Promise<void>((done) => failing.close(() => done()));
    }
  });

  it('does not keep the process alive while the router is unreachable either', async () => {
    const { child, stdout, stderr } = await runChild(3, `
      const hb = startHeartbeat({ terminals: () => ({}), routerUrl: 'http://127.0.0.1:9', onError: () => {} });
      process.on('exit', () => console.log(JSON.stringify({ sent: hb.sent, failed: hb.failed })));
    `);
    const exit = await Promise.race([waitExit(child), sleep(5000).then(() => undefined)]);
    expect(exit, `the heartbeat kept the child alive; stderr: ${stderr()}`).toEqual({ code: 0, signal: null });
    expect(JSON.parse(stdout().trim())).toEqual({ sent: 0, failed: 1 });
  });
});
