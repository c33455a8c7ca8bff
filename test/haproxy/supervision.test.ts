import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { closeAllBackends, startBackend, type BackendAnswer, type BackendServer } from '../helpers/backends.js';
import { haproxyMissing, respawnHaproxyRouter, startHaproxyRouter, type HaproxyRouter } from '../helpers/haproxy.js';
import { closeHttp, http } from '../helpers/http.js';
import { buildPolicy, stopAllRouters } from '../helpers/router-process.js';
import { openSocket, roundTrip } from './support.js';

/**
 * Who keeps whom alive: HAProxy killed → the router starts it again and
 * applies the whole policy; the router killed under load → HAProxy keeps
 * serving the last state it was given, and the router that comes back
 * takes the same HAProxy over (same worker) and brings it up to date; a
 * HAProxy running another switchyard's rules (an upgrade) is reloaded
 * seamlessly, its sessions kept.
 */

const missing = haproxyMissing();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let routers: HaproxyRouter[] = [];

afterEach(async () => {
  // Newest first: a router taken over from a killed one shares its folder.
  for (const r of routers.reverse()) await r.stop().catch(() => undefined);
  routers = [];
});

afterAll(async () => {
  await stopAllRouters();
  await closeAllBackends();
  await closeHttp();
});

/** Requests through HAProxy from a few loops until `until` resolves; bounded by `maxMs`. */
async function load(edge: string, version: string, until: Promise<unknown>, maxMs = 30_000): Promise<{ ok: number; failed: string[] }> {
  let done = false;
  void until.finally(() => (done = true));
  const deadline = Date.now() + maxMs;
  const result = { ok: 0, failed: [] as string[] };
  const loop = async () => {
    while (!done && Date.now() < deadline) {
      try {
        const answer = await http(`${edge}/load`, { headers: { 'x-switchyard-version': version }, timeoutMs: 5000 });
        if (answer.status === 200 && answer.json<BackendAnswer>().version === version) result.ok++;
        else result.failed.push(`${answer.status} ${answer.text.slice(0, 120)}`);
      } catch (error) {
        result.failed.push((error as Error).message);
      }
      await sleep(2);
    }
  };
  await Promise.all([loop(), loop(), loop(), loop()]);
  return result;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(missing)('HAProxy data plane: supervision', () => {
  let b150: BackendServer;
  let b160: BackendServer;

  it('restarts a killed HAProxy and applies the whole policy again', async () => {
    [b150, b160] = await Promise.all([startBackend({ version: '1.5.0' }), startBackend({ version: '1.5.0', process: 'lobby@1.5.0#1' })]);
    // A draining process beside an active one of its version: the restarted HAProxy must be told to drain it again.
    const router = await startHaproxyRouter({ policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: b150.port }, { version: '1.5.0', port: b160.port, index: 1, state: 'draining' }] } }, 1) });
    routers.push(router);
    await router.waitApplied(1);
    const before = await router.workerPid();
    process.kill(router.masterPid()!, 'SIGKILL');
    await waitFor('a new HAProxy worker', async () => (await router.workerPid()) !== before);
    await router.waitApplied(1);
    const answer = await http(`${router.edge}/x`, { headers: { 'x-switchyard-version': '1.5.0' } });
    expect(answer.json<BackendAnswer>().process).toBe('lobby@1.5.0#0');
    expect(router.stderr()).toMatch(/HAProxy is not answering: restarting it with generation 1 applied in full/);
    await waitFor('the draining process drained again', async () => (await router.api.observe(router.haproxyDir)).servers.find((x) => x.port === b160.port)?.admin === 'drain');
    // Its own restart is not drift: nobody else changed HAProxy.
    expect(((await router.dataPlane()) as unknown as { drift: { found: number } }).drift.found).toBe(0);
  });

  it('keeps serving under load while the router is dead, and resyncs when it is back', async () => {
    [b150, b160] = await Promise.all([startBackend({ version: '1.5.0' }), startBackend({ version: '1.6.0' })]);
    const first = await startHaproxyRouter({ policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: b150.port }] } }, 1) });
    routers.push(first);
    await first.waitApplied(1);
    const worker = await first.workerPid();

    let back!: () => void;
    const running = load(first.edge, '1.5.0', new Promise<void>((r) => (back = r)));
    await sleep(300);
    first.child.kill('SIGKILL');
    await waitFor('the router to be gone', async () => !first.alive());
    // While the router is down a new generation is written: HAProxy cannot know it yet.
    await first.writePolicy(buildPolicy({ lobby: { target: '1.6.0', processes: [{ version: '1.5.0', port: b150.port, state: 'draining' }, { version: '1.6.0', port: b160.port }] } }, 2));
    await sleep(500);
    expect((await http(`${first.edge}/x`, { headers: { 'x-switchyard-version': '1.6.0' } })).status).not.toBe(200);

    const second = await respawnHaproxyRouter(first, first.edgePort);
    routers.push(second);
    await second.waitApplied(2);
    back();
    const counts = await running;
    console.log(`router killed under load through HAProxy: ${counts.ok} requests answered, ${counts.failed.length} failed`);
    expect(counts.failed).toEqual([]);
    expect(counts.ok).toBeGreaterThan(20);
    expect(await second.workerPid()).toBe(worker);
    expect(second.stderr()).toMatch(/HAProxy already running \(worker \d+\): taking it over/);
    expect((await http(`${second.edge}/x`, { headers: { 'x-switchyard-version': '1.6.0' } })).json<BackendAnswer>().version).toBe('1.6.0');
  });

  it('takes over a HAProxy an older switchyard started, reloading it seamlessly: its WebSockets stay open', async () => {
    b150 = await startBackend({ version: '1.5.0' });
    const first = await startHaproxyRouter({ policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: b150.port }] } }, 1) });
    routers.push(first);
    await first.waitApplied(1);
    const sockets = await Promise.all(Array.from({ length: 10 }, (_, i) => openSocket(`${first.edge.replace('http', 'ws')}/live/${i}?switchyard-version=1.5.0`)));
    let closed = 0;
    for (const socket of sockets) socket.once('close', () => closed++);
    try {
      first.child.kill('SIGKILL');
      await waitFor('the router to be gone', async () => !first.alive());
      // What an older switchyard left running: its own rules, without this version's fingerprint.
      const cfg = join(first.haproxyDir, 'haproxy.cfg');
      await writeFile(cfg, (await readFile(cfg, 'utf8')).replace(/^ {2}description .*\n/m, ''));
      const before = await first.workerPid();
      process.kill(first.masterPid()!, 'SIGUSR2');
      await waitFor('HAProxy to run the older rules', async () => (await first.workerPid()) !== before);
      const master = first.masterPid();

      const second = await respawnHaproxyRouter(first, first.edgePort);
      routers.push(second);
      await second.waitApplied(1);
      expect(second.stderr()).toMatch(/HAProxy reload \(seamless\) for generation 1: HAProxy runs rules switchyard did not write/);
      expect((await second.api.send('show info')).match(/^description: switchyard rules [0-9a-f]{16}$/m)).not.toBeNull();
      const echoes = await Promise.all(sockets.map((socket, i) => roundTrip(socket, `after-${i}`)));
      expect(echoes.map((e) => e.version)).toEqual(sockets.map(() => '1.5.0'));
      expect(closed).toBe(0);
      expect(second.masterPid()).toBe(master);
      expect((await http(`${second.edge}/x`, { headers: { 'x-switchyard-version': '1.5.0' } })).json<BackendAnswer>().version).toBe('1.5.0');
    } finally {
      for (const socket of sockets) socket.close();
    }
  });
});
