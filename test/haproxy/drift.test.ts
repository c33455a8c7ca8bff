import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataPlaneDrift } from '../../src/protocol/status-body.js';
import { statusProblems } from '../../src/cli/status-problems.js';
import { closeAllBackends, startBackend, type BackendServer } from '../helpers/backends.js';
import { haproxyMissing, startHaproxyRouter, type HaproxyRouter } from '../helpers/haproxy.js';
import { closeHttp, http } from '../helpers/http.js';
import { buildPolicy, stopAllRouters } from '../helpers/router-process.js';
import { probe } from './support.js';

/**
 * Drift: HAProxy changed under the router. Someone reloads it (SIGUSR2 to
 * the master, as a package upgrade or config management would), or deletes
 * or changes a map entry through the admin socket. Traffic for the
 * generation the router applied must be routed again within two applier
 * intervals (500 ms each), and status and /metrics must say what was found
 * and repaired. Before the files on disk were kept in step, a reload brought
 * back the first generation's maps: the target and draining versions
 * answered 404 for 2.6 s to 29 s while status said ok.
 */

const missing = haproxyMissing();
const TWO_INTERVALS_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let b100: BackendServer;
let b110: BackendServer;
let router: HaproxyRouter;

async function drift(): Promise<DataPlaneDrift> {
  // The helper types the fields every data plane has; drift is HAProxy's.
  return ((await router.dataPlane()) as unknown as { drift: DataPlaneDrift }).drift;
}

async function metric(name: string): Promise<number> {
  const text = (await http(`${router.url}/metrics`)).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`/metrics has no ${name}:\n${text.slice(0, 2000)}`);
  return Number(line.split(' ')[1]);
}

/** Both versions, by the header (the one-lookup path) and by the query parameter (the full chain). */
const bothVersions = () =>
  ['1.1.0', '1.0.0'].flatMap((version) => [
    { path: '/x', headers: { 'x-switchyard-version': version }, version },
    { path: `/x?switchyard-version=${version}`, version },
  ]);

describe.skipIf(missing)('HAProxy data plane: drift', () => {
  beforeAll(async () => {
    [b100, b110] = await Promise.all([startBackend({ version: '1.0.0' }), startBackend({ version: '1.1.0' })]);
    router = await startHaproxyRouter({ policy: buildPolicy({ lobby: { target: '1.0.0', processes: [{ version: '1.0.0', port: b100.port }] } }, 1) });
    await router.waitApplied(1);
    // Generation 2 reaches HAProxy only through its runtime API: the promote of 1.1.0, 1.0.0 draining.
    await router.writePolicy(buildPolicy({ lobby: { target: '1.1.0', processes: [{ version: '1.0.0', port: b100.port, state: 'draining' }, { version: '1.1.0', port: b110.port }] } }, 2));
    await router.waitApplied(2);
  });

  afterAll(async () => {
    await stopAllRouters();
    await closeAllBackends();
    await closeHttp();
  });

  it('routes the applied generation right through a reload someone else makes, and says so', async () => {
    const before = await router.workerPid();
    // The files follow the runtime state in the background (one haproxy -c after 100 ms of quiet): wait until they hold generation 2.
    await waitFor('the map files on disk to hold generation 2', async () => (await readFile(join(router.haproxyDir, 'only.map'), 'utf8')).includes('1.1.0 '));
    const p = probe(router.edge, bothVersions());
    await sleep(300);
    p.mark();
    process.kill(router.masterPid()!, 'SIGUSR2');
    await waitFor('a new worker', async () => (await router.workerPid()) !== before);
    await waitFor('the reload to be seen as drift and repaired', async () => (await drift()).last?.repairedAt != null);
    await sleep(TWO_INTERVALS_MS);
    const seen = await p.stop();
    console.log(`outside reload: ${seen.answers} answers, ${seen.wrong} wrong, last wrong ${seen.lastWrongMs ?? '-'} ms after the signal`);
    expect(seen.wrong, seen.lastWrong).toBe(0);
    expect(seen.answers).toBeGreaterThan(50);
    const d = await drift();
    expect(d.last!.what).toMatch(new RegExp(`HAProxy was reloaded outside switchyard \\(worker ${before} → \\d+\\)`));
    expect(d.found).toBe(1);
    expect(d.repaired).toBe(1);
    expect(await metric('switchyard_dataplane_drift_found_total')).toBe(1);
    expect(await metric('switchyard_dataplane_drift_repaired_total')).toBe(1);
    expect((await router.dataPlane()).ok).toBe(true);
  });

  it('puts back a map entry deleted or changed through the admin socket within two intervals', async () => {
    const dir = router.haproxyDir;
    const p = probe(router.edge, bothVersions());
    await sleep(300);
    p.mark();
    // Both lookups of 1.1.0 at once (one admin connection), so one pass finds both.
    expect((await router.api.send(`del map ${join(dir, 'only.map')} 1.1.0;set map ${join(dir, 'route.map')} lobby|=1.1.0 v_lobby_0;del map ${join(dir, 'route.map')} lobby|=1.0.0`)).trim()).toBe('');
    await waitFor('the deletion to be repaired', async () => (await drift()).repaired === 2);
    await sleep(TWO_INTERVALS_MS);
    const seen = await p.stop();
    console.log(`map entries deleted and changed: ${seen.answers} answers, ${seen.wrong} wrong, the last ${seen.lastWrongMs ?? '-'} ms after the change`);
    expect(seen.lastWrongMs ?? 0).toBeLessThanOrEqual(TWO_INTERVALS_MS);
    const d = await drift();
    expect(d.found).toBe(2);
    expect(d.last!.what).toContain('only.map lacked 1.1.0');
    expect(d.last!.what).toMatch(/route\.map (held another value for lobby\|=1\.1\.0|lacked lobby\|=1\.0\.0)/);
    expect(await metric('switchyard_dataplane_drift_found_total')).toBe(2);
    expect(await metric('switchyard_dataplane_in_step')).toBe(1);
  });

  it('writes again a map file someone else changed on disk', async () => {
    const file = join(router.haproxyDir, 'only.map');
    const mine = await readFile(file, 'utf8');
    await writeFile(file, '1.0.0 v_lobby_0\n');
    await waitFor('the file to be written again', async () => (await readFile(file, 'utf8')) === mine);
    const d = await drift();
    expect(d.found).toBe(3);
    expect(d.last!.what).toBe('only.map changed on disk by someone else');
    expect(d.last!.repairedAt).not.toBeNull();
  });

  it('makes status --check fail while HAProxy is out of step', () => {
    const body = { generation: 2, policy: { generation: 2, fileBroken: false, error: null, loadedAt: null }, services: {}, dataPlane: { kind: 'haproxy' as const, generation: 2, ok: false, error: 'HAProxy is out of step with generation 2 (only.map lacked 1.1.0); repairing' } };
    const problems = statusProblems(body, { routerUp: true, routerUrl: router.url, orphans: [] });
    expect(problems).toEqual([{ kind: 'data_plane', message: 'the data plane (haproxy) is not in step with the policy: HAProxy is out of step with generation 2 (only.map lacked 1.1.0); repairing' }]);
    expect(statusProblems({ ...body, dataPlane: { ...body.dataPlane, ok: true, error: null } }, { routerUp: true, routerUrl: router.url, orphans: [] })).toEqual([]);
  });
});

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}; router log:\n${router.stderr()}`);
}
