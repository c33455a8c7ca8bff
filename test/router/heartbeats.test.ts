import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp, http, postJson } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import type { StatusBody } from '../../src/protocol/status-body.js';
import { deriveKey, signRequest } from '../../src/protocol/signing.js';
import { cliHeaders, heartbeatHeaders } from '../helpers/signed.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * Heartbeat ingestion, the status tally and /metrics on a real router child.
 * Heartbeat interval 500 ms and staleAfter 2: a process is stale 1 s after
 * its last heartbeat (wide, so a busy 2-core machine never makes a fresh one
 * look stale). Timing is never asserted tightly: staleness is awaited
 * by polling, and freshness is checked right after a heartbeat.
 */

let router: RouterProcess;

type Status = StatusBody;

const seqs = new Map<string, number>();

/** A heartbeat signed with the process's own key; `secret: null` sends it unsigned, another secret signs with a wrong key. */
function heartbeat(process: string, terminals: Record<string, number>, opts: { seq?: number; secret?: string | null } = {}) {
  const [service, rest] = process.split('@') as [string, string];
  const version = rest.split('#')[0]!;
  const seq = opts.seq ?? (seqs.get(process) ?? 0) + 1;
  if (opts.seq === undefined) seqs.set(process, seq);
  const body = JSON.stringify({ service, version, process, seq, terminals });
  const secret = opts.secret === undefined ? router.token : opts.secret;
  const headers = secret === null ? { 'content-type': 'application/json' } : heartbeatHeaders(secret, body);
  return http(`${router.url}/v1/heartbeat`, { method: 'POST', headers, body });
}

async function status(): Promise<Status> {
  const answer = await http(`${router.url}/v1/status`, { headers: cliHeaders(router.token) });
  expect(answer.status).toBe(200);
  return answer.json<Status>();
}

async function metric(line: RegExp): Promise<number> {
  const text = (await http(`${router.url}/metrics`)).text;
  const found = text.split('\n').find((l) => line.test(l));
  return found === undefined ? 0 : Number(found.split(' ').at(-1));
}

const proc = (s: Status, id: string) => s.services.lobby!.processes.find((p) => p.id === id)!;

beforeAll(async () => {
  router = await startRouter({
    mode: 'redirect',
    heartbeatInterval: '500ms',
    staleAfter: 2,
    policy: buildPolicy(
      {
        lobby: {
          target: '1.5.0',
          processes: [
            { version: '1.5.0', port: 7501 },
            { version: '1.5.0', port: 7502, index: 1 },
            { version: '1.4.0', port: 7500, state: 'draining' },
          ],
        },
        chat: { target: '2.0.0', processes: [{ version: '2.0.0', port: 7600 }] },
      },
      3,
    ),
  });
});

const userPm2HomeUntouched = guardUserPm2Home();

afterAll(async () => {
  await stopAllRouters();
  await closeHttp();
  userPm2HomeUntouched();
});

describe('heartbeats', () => {
  it('refuses a heartbeat without a valid signature with 401, and does not count it', async () => {
    const rejectedBefore = await metric(/^switchyard_heartbeats_total\{outcome="rejected"\}/);
    for (const secret of [null, 'wrong', `${router.token}0`, '']) {
      const answer = await heartbeat('lobby@1.4.0#0', { '1.4.0': 999 }, { secret, seq: 1 });
      expect(answer.status).toBe(401);
      expect(answer.json()).toMatchObject({ error: 'unauthorized' });
    }
    // The secret itself as a bearer token is no longer accepted.
    const bearer = await postJson(`${router.url}/v1/heartbeat`, { service: 'lobby', version: '1.4.0', process: 'lobby@1.4.0#0', seq: 1, terminals: { '1.4.0': 999 } }, { authorization: `Bearer ${router.token}` });
    expect(bearer.status).toBe(401);

    const s = await status();
    expect(proc(s, 'lobby@1.4.0#0')).toMatchObject({ terminals: 0, heartbeat: { ageMs: null, stale: true } });
    expect(s.services.lobby!.tally).toEqual([]);
    expect(await metric(/^switchyard_heartbeats_total\{outcome="rejected"\}/)).toBe(rejectedBefore + 5);
  });

  it('status needs a request signed with the CLI key', async () => {
    expect((await http(`${router.url}/v1/status`)).status).toBe(401);
    const bearer = await http(`${router.url}/v1/status`, { headers: { authorization: `Bearer ${router.token}` } });
    expect(bearer.status).toBe(401);
    expect(bearer.json()).toMatchObject({ error: 'unauthorized', reason: 'unsigned', message: expect.stringContaining('docs/signing.md') });
    // A process's key may heartbeat, not read status.
    const asProcess = await http(`${router.url}/v1/status`, { headers: signRequest(deriveKey(router.token, 'lobby@1.5.0#0'), 'lobby@1.5.0#0', 'GET', '/v1/status') });
    expect(asProcess.json()).toMatchObject({ error: 'unauthorized', reason: 'wrong_key' });
  });

  it('counts terminals from valid heartbeats into the status tally, ordered by count with shares', async () => {
    expect((await heartbeat('lobby@1.5.0#0', { '1.5.0': 500, '1.4.0': 20 })).status).toBe(204);
    expect((await heartbeat('lobby@1.5.0#1', { '1.5.0': 300 })).status).toBe(204);
    // 1.4.0 drains: its beats are answered 200 with the drain notice (DESIGN.md), and counted all the same.
    expect((await heartbeat('lobby@1.4.0#0', { '1.4.0': 180 })).status).toBe(200);
    expect((await heartbeat('chat@2.0.0#0', { '2.0.0': 7 })).status).toBe(204);
    const s = await status();

    expect(s.generation).toBe(3);
    const lobby = s.services.lobby!;
    expect(lobby.target).toBe('1.5.0');
    expect(lobby.processes.map((p) => p.id)).toEqual(['lobby@1.5.0#0', 'lobby@1.5.0#1', 'lobby@1.4.0#0']);
    expect(proc(s, 'lobby@1.5.0#0')).toMatchObject({ version: '1.5.0', host: 'local', address: '127.0.0.1', port: 7501, state: 'active', terminals: 520, heartbeat: { stale: false } });
    expect(proc(s, 'lobby@1.4.0#0')).toMatchObject({ state: 'draining', terminals: 180, heartbeat: { stale: false } });
    for (const p of lobby.processes) {
      expect(p.heartbeat.ageMs).toBeGreaterThanOrEqual(0);
      expect(p.heartbeat.ageMs).toBeLessThan(5_000);
    }
    expect(lobby.tally).toEqual([
      { version: '1.5.0', terminals: 800, share: 0.8 },
      { version: '1.4.0', terminals: 200, share: 0.2 },
    ]);
    expect(s.services.chat!.tally).toEqual([{ version: '2.0.0', terminals: 7, share: 1 }]);
  });

  it('ignores an out-of-order heartbeat', async () => {
    const seq = (seqs.get('lobby@1.5.0#1') ?? 0) + 10;
    expect((await heartbeat('lobby@1.5.0#1', { '1.5.0': 100 }, { seq })).status).toBe(204);
    const before = await metric(/^switchyard_heartbeats_total\{outcome="out_of_order"\}/);
    // An older seq arriving late must not overwrite the newer count.
    expect((await heartbeat('lobby@1.5.0#1', { '1.5.0': 9999 }, { seq: seq - 3 })).status).toBe(204);
    expect((await heartbeat('lobby@1.5.0#1', { '1.5.0': 9999 }, { seq })).status).toBe(204);
    expect(proc(await status(), 'lobby@1.5.0#1').terminals).toBe(100);
    expect(await metric(/^switchyard_heartbeats_total\{outcome="out_of_order"\}/)).toBe(before + 2);
    seqs.set('lobby@1.5.0#1', seq);
  });

  it('a silent process turns stale: it leaves the tally and shows stale: true', async () => {
    // Keep 1.5.0#0 and #1 alive; 1.4.0#0 goes silent.
    let beating = true;
    const beats = (async () => {
      while (beating) {
        await heartbeat('lobby@1.5.0#0', { '1.5.0': 500, '1.4.0': 20 });
        await heartbeat('lobby@1.5.0#1', { '1.5.0': 100 });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const deadline = Date.now() + 10_000;
      let s = await status();
      while (!proc(s, 'lobby@1.4.0#0').heartbeat.stale && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        s = await status();
      }
      const silent = proc(s, 'lobby@1.4.0#0');
      expect(silent.heartbeat.stale).toBe(true);
      expect(silent.heartbeat.ageMs).toBeGreaterThan(1000);
      // Its last count stays visible on the process, but no longer in the tally.
      expect(silent.terminals).toBe(180);
    } finally {
      beating = false;
      await beats;
    }
    // Right after fresh heartbeats from the others, the tally holds only theirs.
    await heartbeat('lobby@1.5.0#0', { '1.5.0': 500, '1.4.0': 20 });
    await heartbeat('lobby@1.5.0#1', { '1.5.0': 100 });
    const s = await status();
    expect(proc(s, 'lobby@1.4.0#0').heartbeat.stale).toBe(true);
    expect(s.services.lobby!.tally).toEqual([
      { version: '1.5.0', terminals: 600, share: 0.9677 },
      { version: '1.4.0', terminals: 20, share: 0.0323 },
    ]);
    expect(await metric(/^switchyard_terminals\{service="lobby",version="1.4.0"\}/)).toBe(20);
  });

  it('a valid heartbeat brings a stale process back', async () => {
    expect((await heartbeat('lobby@1.4.0#0', { '1.4.0': 50 })).status).toBe(200);
    const s = await status();
    expect(proc(s, 'lobby@1.4.0#0')).toMatchObject({ terminals: 50, heartbeat: { stale: false } });
  });
});

describe('metrics', () => {
  it('serves Prometheus text with the documented metric names, open on loopback', async () => {
    await http(`${router.url}/v1/login`, { method: 'POST', json: { service: 'lobby', version: '1.5.0' } });
    await http(`${router.url}/v1/resolve?service=lobby&version=9.9.9`);
    const answer = await http(`${router.url}/metrics`);
    expect(answer.status).toBe(200);
    expect(String(answer.headers['content-type'])).toContain('text/plain');
    for (const name of [
      'switchyard_terminals',
      'switchyard_processes',
      'switchyard_heartbeats_total',
      'switchyard_routing_decisions_total',
      'switchyard_policy_generation',
      'switchyard_policy_load_errors_total',
    ]) {
      expect(answer.text).toContain(`# TYPE ${name} `);
    }
    expect(answer.text).toMatch(/^switchyard_policy_generation 3$/m);
    expect(answer.text).toMatch(/^switchyard_processes\{service="lobby",state="active"\} 2$/m);
    expect(answer.text).toMatch(/^switchyard_processes\{service="lobby",state="draining"\} 1$/m);
    expect(answer.text).toMatch(/^switchyard_heartbeats_total\{outcome="accepted"\} \d+$/m);
    expect(answer.text).toMatch(/^switchyard_routing_decisions_total\{kind="login",outcome="connect"\} \d+$/m);
    expect(answer.text).toMatch(/^switchyard_routing_decisions_total\{kind="resolve",outcome="version_not_served"\} \d+$/m);
    // Signed with the CLI key it answers as well.
    expect((await http(`${router.url}/metrics`, { headers: cliHeaders(router.token, '/metrics') })).status).toBe(200);
  });
});
