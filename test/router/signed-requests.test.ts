import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startHeartbeat } from '../../src/sdk/heartbeat.js';
import { CLI_KEY_ID, deriveKey, signRequest } from '../../src/protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { closeHttp, http } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, cliEnv, spawnRouter, startRouter, stopAllRouters, writeRouterProject, type RouterProcess } from '../helpers/router-process.js';
import { cliHeaders, heartbeatHeaders } from '../helpers/signed.js';

/**
 * No secret on the wire (issue 12, attack 2), replays, seq jumps and early
 * heartbeats, against the real router child and the built CLI.
 */

const POLICY = buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 1);
const PROCESS = 'lobby@1.5.0#0';
const userPm2HomeUntouched = guardUserPm2Home();

afterAll(async () => {
  await stopAllRouters();
  await closeHttp();
  userPm2HomeUntouched();
});

interface Caught {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A plain node http server on the router's port that records every byte and every request, and answers 503. */
async function impostor(port: number) {
  const bytes: Buffer[] = [];
  const requests: Caught[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"down"}');
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('data', (b: Buffer) => bytes.push(b));
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    bytes: () => Buffer.concat(bytes),
    requests,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Replays a caught request to `url` with other headers or body; keeps the signature headers as caught. */
function replay(url: string, caught: Caught, change: { body?: string; path?: string } = {}) {
  const keep = Object.fromEntries(Object.entries(caught.headers).filter(([k]) => k.startsWith('x-switchyard-') || k === 'content-type')) as Record<string, string>;
  const body = change.body ?? (caught.body === '' ? undefined : caught.body);
  return http(`${url}${change.path ?? caught.url}`, { method: caught.method, headers: keep, ...(body === undefined ? {} : { body }) });
}

describe('an impostor on the router\'s port', () => {
  it('catches no secret from `switchyard status` and the heartbeat SDK, and nothing it caught works with another body', async () => {
    const project = await writeRouterProject({ policy: POLICY });
    const secret = project.token;
    const processKey = deriveKey(secret, PROCESS);
    const cliKey = deriveKey(secret, CLI_KEY_ID);
    const fake = await impostor(project.port);
    try {
      const status = await runCli(['status', '--config', project.configPath, '--json'], { cwd: project.dir, env: cliEnv(project.pm2Home), timeoutMs: 60_000 });
      expect(status.stderr).toContain('not answering');
      const hb = startHeartbeat({ terminals: () => ({ '1.5.0': 2 }), routerUrl: project.url, token: processKey, service: 'lobby', version: '1.5.0', process: PROCESS, intervalMs: 100 });
      await expect.poll(() => fake.requests.filter((r) => r.url === '/v1/heartbeat').length, { timeout: 15_000 }).toBeGreaterThanOrEqual(5);
      await hb.stop();
    } finally {
      await fake.close();
    }

    const wire = fake.bytes().toString('latin1');
    expect(wire).toContain('GET /v1/status');
    expect(wire).toContain('POST /v1/heartbeat');
    expect(wire).toContain('x-switchyard-signature');
    const secrets = { secret, processKey, cliKey };
    for (const [name, value] of Object.entries(secrets)) {
      for (const form of [value, value.toUpperCase(), Buffer.from(value, 'hex').toString('base64'), Buffer.from(value).toString('base64')]) {
        expect(wire.includes(form), `${name} (${form.slice(0, 12)}…) on the wire`).toBe(false);
      }
    }
    expect(wire.toLowerCase()).not.toContain('authorization');

    // The router comes back on its port; the impostor replays what it caught.
    const router = await spawnRouter(project, { policy: POLICY, expectHealthy: true });
    const beats = fake.requests.filter((r) => r.url === '/v1/heartbeat');
    const statuses = fake.requests.filter((r) => r.url === '/v1/status');
    expect(statuses.length).toBeGreaterThanOrEqual(1);
    const refused: number[] = [];
    for (const caught of beats) {
      const forged = { ...JSON.parse(caught.body), terminals: {}, seq: 2 ** 40 };
      refused.push((await replay(router.url, caught, { body: JSON.stringify(forged) })).status);
      refused.push((await replay(router.url, caught, { body: caught.body.replace('"1.5.0":2', '"1.5.0":3') })).status);
    }
    for (const caught of statuses) {
      refused.push((await replay(router.url, caught, { body: '{}' })).status);
      refused.push((await replay(router.url, caught, { path: '/v1/status?all=1' })).status);
    }
    expect(refused.filter((s) => s < 400)).toEqual([]);
    expect(refused.length).toBe(beats.length * 2 + statuses.length * 2);
    // Replayed as caught, a heartbeat counts at most once (it is the process's own report), never twice.
    const first = await replay(router.url, beats.at(-1)!);
    const again = await replay(router.url, beats.at(-1)!);
    expect([204, 401]).toContain(first.status);
    expect(again.status).toBe(401);
    expect(again.json<{ reason: string }>().reason).toMatch(/^(replayed|expired)$/);
    await router.stop();
  });
});

describe('replays and the time window', () => {
  let router: RouterProcess;
  const post = (body: string, headers: Record<string, string>) => http(`${router.url}/v1/heartbeat`, { method: 'POST', headers, body });
  const beat = (seq: number, terminals: Record<string, number> = { '1.5.0': 1 }, process = PROCESS) => JSON.stringify({ service: 'lobby', version: process.split('@')[1]!.split('#')[0], process, seq, terminals });
  const signedAt = (body: string, nowMs: number) => ({ 'content-type': 'application/json', ...signRequest(deriveKey(router.token, PROCESS), PROCESS, 'POST', '/v1/heartbeat', body, nowMs) });
  const reason = async (answer: Promise<{ status: number; json<T>(): T }>) => {
    const a = await answer;
    return a.status === 204 ? '204' : `${a.status} ${a.json<{ reason?: string; error: string }>().reason ?? a.json<{ error: string }>().error}`;
  };

  it('a signature is accepted once; a replay inside the window is refused', async () => {
    router = await startRouter({ policy: POLICY });
    const body = beat(1);
    const headers = heartbeatHeaders(router.token, body);
    expect(await reason(post(body, headers))).toBe('204');
    expect(await reason(post(body, headers))).toBe('401 replayed');
    const status = cliHeaders(router.token);
    expect((await http(`${router.url}/v1/status`, { headers: status })).status).toBe(200);
    expect(await reason(http(`${router.url}/v1/status`, { headers: status }))).toBe('401 replayed');
  });

  it('a timestamp outside the window (either way) is refused, and a seen signature stays refused after the window', async () => {
    expect(await reason(post(beat(2), signedAt(beat(2), Date.now() - 31_000)))).toBe('401 expired');
    expect(await reason(post(beat(2), signedAt(beat(2), Date.now() + 31_000)))).toBe('401 expired');
    // Signed 27 s ago: still inside, accepted; replayed once the window has passed: refused.
    const body = beat(3);
    const headers = signedAt(body, Date.now() - 27_000);
    expect(await reason(post(body, headers))).toBe('204');
    await new Promise((r) => setTimeout(r, 4500));
    expect(await reason(post(body, headers))).toBe('401 expired');
  });

  it('a seq implausibly far ahead is refused with 409 seq_jump, not adopted', async () => {
    expect(await reason(post(beat(2e12, {}), heartbeatHeaders(router.token, beat(2e12, {}))))).toBe('409 seq_jump');
    // The genuine next beat still counts.
    expect(await reason(post(beat(4, { '1.5.0': 7 }), heartbeatHeaders(router.token, beat(4, { '1.5.0': 7 }))))).toBe('204');
    const status = await http(`${router.url}/v1/status`, { headers: cliHeaders(router.token) });
    expect(status.json<{ services: { lobby: { tally: unknown } } }>().services.lobby.tally).toEqual([{ version: '1.5.0', terminals: 7, share: 1 }]);
    expect((await http(`${router.url}/metrics`)).text).toMatch(/^switchyard_heartbeats_total\{outcome="seq_jump"\} 1$/m);
  });

  it('an early heartbeat from a process the policy does not name yet gets 204, is held, and counts once the policy names it', async () => {
    const early = 'lobby@1.6.0#0.g2';
    const body = beat(0, { '1.6.0': 4 }, early);
    expect(await reason(post(body, heartbeatHeaders(router.token, body)))).toBe('204');
    const tally = async () => (await http(`${router.url}/v1/status`, { headers: cliHeaders(router.token) })).json<{ services: { lobby: { tally: Array<{ version: string; terminals: number }> } } }>().services.lobby.tally;
    expect((await tally()).find((t) => t.version === '1.6.0')).toBeUndefined();
    expect((await http(`${router.url}/metrics`)).text).toMatch(/^switchyard_heartbeats_total\{outcome="pending"\} 1$/m);
    const named = buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: 7501 }] } }, 2);
    named.services!.lobby!.processes!.push({ ...named.services!.lobby!.processes![0]!, id: early, version: '1.6.0', port: 7502 });
    await router.writePolicy(named);
    await router.waitForGeneration(2);
    await expect.poll(async () => (await tally()).find((t) => t.version === '1.6.0')?.terminals, { timeout: 5000 }).toBe(4);
  });
});
