import { heartbeatHeaders } from '../helpers/signed.js';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { inCanary } from '../../src/core/canary.js';
import { closeAllBackends, startBackend, type BackendAnswer, type BackendEcho, type BackendServer } from '../helpers/backends.js';
import { freePort } from '../helpers/free-port.js';
import { closeHttp, http, postJson, rawRequest } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess, type ServiceSpec } from '../helpers/router-process.js';

/**
 * The router's routing semantics (DESIGN.md, "Routing semantics" and
 * "Router HTTP interface") against a real `switchyard router run` child and
 * real backends on 127.0.0.1. One proxy-mode router serves every case; each
 * case writes the policy it needs and waits until the router serves it.
 */

let b140: BackendServer;
let b150: BackendServer;
let b160: BackendServer;
let b150b: BackendServer;
let chat: BackendServer;
let deadPort: number;
let proxy: RouterProcess;
let redirect: RouterProcess;
let generation = 1;

/** lobby: target 1.5.0; 1.4.0 draining; 1.6.0 active, not promoted. */
function lobby(extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    target: '1.5.0',
    processes: [
      { version: '1.5.0', port: b150.port },
      { version: '1.4.0', port: b140.port, state: 'draining' },
      { version: '1.6.0', port: b160.port },
    ],
    ...extra,
  };
}

/** Writes a policy to the proxy-mode router and waits until it serves it. */
async function usePolicy(services: Record<string, ServiceSpec>): Promise<void> {
  generation += 1;
  await proxy.writePolicy(buildPolicy(services, generation));
  await proxy.waitForGeneration(generation);
}

const login = (router: RouterProcess, body: Record<string, unknown>) => postJson(`${router.url}/v1/login`, body);
const resolve = (query: Record<string, string>) => http(`${proxy.url}/v1/resolve?${new URLSearchParams(query)}`);

beforeAll(async () => {
  [b140, b150, b160, chat, b150b] = await Promise.all([
    startBackend({ version: '1.4.0' }),
    startBackend({ version: '1.5.0' }),
    startBackend({ version: '1.6.0' }),
    startBackend({ service: 'chat', version: '2.0.0' }),
    startBackend({ version: '1.5.0', process: 'lobby@1.5.0#1' }),
  ]);
  deadPort = await freePort();
  const policy = buildPolicy({ lobby: lobby() }, generation);
  [proxy, redirect] = await Promise.all([startRouter({ mode: 'proxy', policy }), startRouter({ mode: 'redirect', policy })]);
});

const userPm2HomeUntouched = guardUserPm2Home();

afterAll(async () => {
  await stopAllRouters();
  await closeAllBackends();
  await closeHttp();
  userPm2HomeUntouched();
});

describe('login', () => {
  it('force: connects the target version and tells every other version to change', async () => {
    await usePolicy({ lobby: lobby() });
    const connect = await login(proxy, { service: 'lobby', version: '1.5.0', terminal: 't-1' });
    expect(connect.status).toBe(200);
    expect(connect.json()).toMatchObject({ action: 'connect', service: 'lobby', version: '1.5.0', address: '127.0.0.1', port: b150.port });

    // Draining 1.4.0 and active-but-not-target 1.6.0 both get the version-change message.
    for (const version of ['1.4.0', '1.6.0', '1.3.9']) {
      const upgrade = await login(proxy, { service: 'lobby', version, terminal: 't-1' });
      expect(upgrade.status).toBe(200);
      expect(upgrade.json()).toEqual({ action: 'upgrade', service: 'lobby', targetVersion: '1.5.0' });
    }
    // The only service may be left out.
    expect((await login(proxy, { version: '1.5.0' })).json()).toMatchObject({ action: 'connect', port: b150.port });
  });

  it('allow: connects any version with an active process; a draining one takes no new logins', async () => {
    await usePolicy({ lobby: lobby({ login: 'allow' }) });
    expect((await login(proxy, { service: 'lobby', version: '1.6.0', terminal: 't' })).json()).toMatchObject({ action: 'connect', version: '1.6.0', port: b160.port });
    expect((await login(proxy, { service: 'lobby', version: '1.5.0', terminal: 't' })).json()).toMatchObject({ action: 'connect', version: '1.5.0', port: b150.port });
    expect((await login(proxy, { service: 'lobby', version: '1.4.0', terminal: 't' })).json()).toEqual({ action: 'upgrade', service: 'lobby', targetVersion: '1.5.0' });
    expect((await login(proxy, { service: 'lobby', version: '0.9.0', terminal: 't' })).json()).toEqual({ action: 'upgrade', service: 'lobby', targetVersion: '1.5.0' });
  });

  it('a terminal told to change version connects when it logs in again with it', async () => {
    await usePolicy({ lobby: lobby() });
    const first = (await login(proxy, { service: 'lobby', version: '1.4.0', terminal: 'tx' })).json<{ action: string; targetVersion: string }>();
    expect(first.action).toBe('upgrade');
    const again = await login(proxy, { service: 'lobby', version: first.targetVersion, terminal: 'tx' });
    expect(again.json()).toMatchObject({ action: 'connect', version: '1.5.0', port: b150.port });
  });

  it('canary: weight 10 sends about 10% of 1000 distinct terminals to the canary version, stably', async () => {
    await usePolicy({ lobby: lobby({ canary: { version: '1.6.0', weight: 10 } }) });
    const ids = Array.from({ length: 1000 }, (_, i) => `terminal-${i}`);
    const answers = new Map<string, { action: string; targetVersion?: string; version?: string }>();
    const queue = [...ids];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const answer = await login(proxy, { service: 'lobby', version: '1.5.0', terminal: id });
          expect(answer.status).toBe(200);
          answers.set(id, answer.json());
        }
      }),
    );
    const toCanary = ids.filter((id) => answers.get(id)!.action === 'upgrade');
    for (const id of toCanary) expect(answers.get(id)).toEqual({ action: 'upgrade', service: 'lobby', targetVersion: '1.6.0' });
    for (const id of ids.filter((i) => !toCanary.includes(i))) expect(answers.get(id)).toMatchObject({ action: 'connect', version: '1.5.0' });
    const share = toCanary.length / ids.length;
    console.log(`canary weight 10: ${toCanary.length} of ${ids.length} terminals sent to 1.6.0 (${(share * 100).toFixed(1)}%)`);
    expect(share).toBeGreaterThan(0.07);
    expect(share).toBeLessThan(0.13);
    // Chosen by a stable hash of the terminal id: exactly the core's choice, every time.
    expect(toCanary.length).toBe(ids.filter((id) => inCanary(id, 10)).length);
    for (const id of toCanary.slice(0, 20)) {
      expect((await login(proxy, { service: 'lobby', version: '1.5.0', terminal: id })).json()).toMatchObject({ targetVersion: '1.6.0' });
      // …and a canary terminal that changed version connects to the canary process.
      expect((await login(proxy, { service: 'lobby', version: '1.6.0', terminal: id })).json()).toMatchObject({ action: 'connect', port: b160.port });
    }
  });

  it('spreads terminals over several processes of a version: round robin, then the least terminals by heartbeat', async () => {
    await usePolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: b150.port }, { version: '1.5.0', port: b150b.port, index: 1 }] } });
    const ports = async (n: number) => {
      const seen: number[] = [];
      for (let i = 0; i < n; i++) seen.push((await login(proxy, { service: 'lobby', version: '1.5.0', terminal: `s-${i}` })).json<{ port: number }>().port);
      return seen;
    };
    const first = await ports(10);
    expect(first.filter((p) => p === b150.port)).toHaveLength(5);
    expect(first.filter((p) => p === b150b.port)).toHaveLength(5);

    const beat = (process: string, terminals: number) => {
      const body = JSON.stringify({ service: 'lobby', version: '1.5.0', process, seq: 1, terminals: { '1.5.0': terminals } });
      return http(`${proxy.url}/v1/heartbeat`, { method: 'POST', headers: heartbeatHeaders(proxy.token, body), body });
    };
    expect((await beat('lobby@1.5.0#0', 120)).status).toBe(204);
    expect((await beat('lobby@1.5.0#1', 4)).status).toBe(204);
    expect(new Set(await ports(6))).toEqual(new Set([b150b.port]));
    // Proxied requests go to the less loaded process too.
    const proxied = await http(`${proxy.url}/p`, { headers: { 'x-switchyard-version': '1.5.0' } });
    expect(proxied.json<BackendAnswer>().process).toBe('lobby@1.5.0#1');
  });

  it('answers in redirect mode too', async () => {
    const connect = await login(redirect, { service: 'lobby', version: '1.5.0', terminal: 'r' });
    expect(connect.json()).toMatchObject({ action: 'connect', address: '127.0.0.1', port: b150.port });
  });
});

describe('resolve', () => {
  it('exact: only the same version; active and draining processes serve', async () => {
    await usePolicy({ lobby: lobby() });
    expect((await resolve({ service: 'lobby', version: '1.5.0' })).json()).toMatchObject({ service: 'lobby', version: '1.5.0', address: '127.0.0.1', port: b150.port });
    expect((await resolve({ service: 'lobby', version: '1.4.0' })).json()).toMatchObject({ version: '1.4.0', port: b140.port });
    const rejected = await resolve({ service: 'lobby', version: '1.5.1' });
    expect(rejected.status).toBe(404);
    const body = rejected.json<{ error: string; message: string; versions: string[] }>();
    expect(body.error).toBe('version_not_served');
    expect(body.versions).toEqual(['1.6.0', '1.5.0', '1.4.0']);
    expect(body.message).toContain('1.5.1');
  });

  it('patch: same major.minor', async () => {
    await usePolicy({ lobby: lobby({ match: 'patch' }) });
    expect((await resolve({ service: 'lobby', version: '1.5.7' })).json()).toMatchObject({ version: '1.5.0', port: b150.port });
    expect((await resolve({ service: 'lobby', version: '1.4.3' })).json()).toMatchObject({ version: '1.4.0', port: b140.port });
    const rejected = await resolve({ service: 'lobby', version: '1.7.0' });
    expect(rejected.status).toBe(404);
    expect(rejected.json()).toMatchObject({ error: 'version_not_served', versions: ['1.6.0', '1.5.0', '1.4.0'] });
  });

  it('minor: same major, the newest active version first', async () => {
    await usePolicy({ lobby: lobby({ match: 'minor' }) });
    expect((await resolve({ service: 'lobby', version: '1.9.2' })).json()).toMatchObject({ version: '1.6.0', port: b160.port });
    expect((await resolve({ service: 'lobby', version: '1.0.0' })).json()).toMatchObject({ version: '1.6.0' });
    const rejected = await resolve({ service: 'lobby', version: '2.0.0' });
    expect(rejected.status).toBe(404);
    expect(rejected.json()).toMatchObject({ error: 'version_not_served', versions: ['1.6.0', '1.5.0', '1.4.0'] });
  });

  it('refuses a missing or malformed version with 400 JSON', async () => {
    await usePolicy({ lobby: lobby() });
    expect((await resolve({ service: 'lobby' })).json()).toMatchObject({ error: 'version_required' });
    const bad = await resolve({ service: 'lobby', version: '1.5' });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_version' });
    expect((await resolve({ service: 'nope', version: '1.5.0' })).status).toBe(404);
  });
});

describe('proxy mode', () => {
  it('forwards GET with path and query to the matching process', async () => {
    await usePolicy({ lobby: lobby() });
    const answer = await http(`${proxy.url}/games/42?sort=asc&x=%20y`, { headers: { 'x-switchyard-version': '1.4.0', 'x-custom': 'kept' } });
    expect(answer.status).toBe(200);
    const body = answer.json<BackendAnswer>();
    expect(body).toMatchObject({ version: '1.4.0', method: 'GET', url: '/games/42?sort=asc&x=%20y', path: '/games/42' });
    expect(body.headers['x-custom']).toBe('kept');
    expect(body.headers['x-forwarded-for']).toContain('127.0.0.1');
    expect(answer.headers['x-backend-version']).toBe('1.4.0');
  });

  it('forwards POST bodies intact, a 1 MiB one and a streamed (chunked) one too', async () => {
    await usePolicy({ lobby: lobby() });
    const small = await http(`${proxy.url}/echo`, { method: 'POST', json: { hello: 'world', n: [1, 2, 3] }, headers: { 'x-switchyard-version': '1.5.0' } });
    expect(small.json<BackendAnswer>()).toMatchObject({ version: '1.5.0', method: 'POST', body: '{"hello":"world","n":[1,2,3]}' });

    const big = randomBytes(1024 * 1024);
    const sha = createHash('sha256').update(big).digest('hex');
    const sent = await http(`${proxy.url}/upload`, { method: 'POST', body: big, headers: { 'x-switchyard-version': '1.6.0', 'content-type': 'application/octet-stream' }, timeoutMs: 30_000 });
    expect(sent.status).toBe(200);
    expect(sent.json<BackendAnswer>()).toMatchObject({ version: '1.6.0', bodyBytes: big.length, bodySha256: sha });

    const streamed = await http(`${proxy.url}/upload`, {
      method: 'PUT',
      body: Readable.from((function* () {
        for (let i = 0; i < 16; i++) yield big.subarray(i * 65536, (i + 1) * 65536);
      })()),
      headers: { 'x-switchyard-version': '1.4.0' },
      timeoutMs: 30_000,
    });
    expect(streamed.json<BackendAnswer>()).toMatchObject({ version: '1.4.0', method: 'PUT', bodyBytes: big.length, bodySha256: sha });
  });

  it('reads the version from the header, then the query parameter, then the cookie', async () => {
    await usePolicy({ lobby: lobby() });
    const version = async (path: string, headers: Record<string, string> = {}) => (await http(`${proxy.url}${path}`, { headers })).json<BackendAnswer>().version;
    expect(await version('/a', { 'x-switchyard-version': '1.6.0' })).toBe('1.6.0');
    expect(await version('/a?switchyard-version=1.4.0')).toBe('1.4.0');
    expect(await version('/a', { cookie: 'theme=dark; switchyard-version=1.6.0; other=1' })).toBe('1.6.0');
    // Precedence: header over query over cookie.
    expect(await version('/a?switchyard-version=1.4.0', { 'x-switchyard-version': '1.5.0', cookie: 'switchyard-version=1.6.0' })).toBe('1.5.0');
    expect(await version('/a?switchyard-version=1.4.0', { cookie: 'switchyard-version=1.6.0' })).toBe('1.4.0');
  });

  it('rejects a request without a version, or with one nobody serves, with JSON', async () => {
    await usePolicy({ lobby: lobby() });
    const none = await http(`${proxy.url}/a`);
    expect(none.status).toBe(400);
    expect(none.json()).toMatchObject({ error: 'version_required' });
    const unserved = await http(`${proxy.url}/a`, { headers: { 'x-switchyard-version': '9.9.9' } });
    expect(unserved.status).toBe(404);
    expect(unserved.json()).toMatchObject({ error: 'version_not_served', versions: ['1.6.0', '1.5.0', '1.4.0'] });
  });

  it('pipes WebSocket sessions to the matching process (header, query or cookie)', async () => {
    await usePolicy({ lobby: lobby() });
    const ws = (path: string, headers: Record<string, string> = {}) => openSocket(`${proxy.url.replace('http', 'ws')}${path}`, headers);

    const a = await ws('/live', { 'x-switchyard-version': '1.4.0' });
    const b = await ws('/live?switchyard-version=1.6.0');
    const c = await ws('/live', { cookie: 'switchyard-version=1.5.0' });
    try {
      for (let i = 0; i < 5; i++) {
        expect(await roundTrip(a, `hello ${i}`)).toMatchObject({ version: '1.4.0', echo: `hello ${i}`, path: '/live' });
      }
      expect(await roundTrip(b, 'x')).toMatchObject({ version: '1.6.0', echo: 'x', path: '/live?switchyard-version=1.6.0' });
      expect(await roundTrip(c, 'y')).toMatchObject({ version: '1.5.0', echo: 'y' });
      // Binary frames pass through untouched.
      const bytes = randomBytes(200_000);
      const back = await new Promise<Buffer>((done) => {
        a.once('message', (data) => done(data as Buffer));
        a.send(bytes);
      });
      expect(Buffer.compare(back, bytes)).toBe(0);
    } finally {
      await Promise.all([a, b, c].map(closeSocket));
    }
  });

  it('takes the service from x-switchyard-service when there are two', async () => {
    await usePolicy({ lobby: lobby(), chat: { target: '2.0.0', processes: [{ version: '2.0.0', port: chat.port }] } });
    const which = await http(`${proxy.url}/x`, { headers: { 'x-switchyard-version': '2.0.0' } });
    expect(which.status).toBe(400);
    expect(which.json()).toMatchObject({ error: 'service_required' });
    const toChat = await http(`${proxy.url}/x`, { headers: { 'x-switchyard-version': '2.0.0', 'x-switchyard-service': 'chat' } });
    expect(toChat.json<BackendAnswer>()).toMatchObject({ service: 'chat', version: '2.0.0' });
    const toLobby = await http(`${proxy.url}/x`, { headers: { 'x-switchyard-version': '1.5.0', 'x-switchyard-service': 'lobby' } });
    expect(toLobby.json<BackendAnswer>()).toMatchObject({ service: 'lobby', version: '1.5.0' });
    const unknown = await http(`${proxy.url}/x`, { headers: { 'x-switchyard-version': '1.5.0', 'x-switchyard-service': 'shop' } });
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'unknown_service' });

    const socket = await openSocket(`${proxy.url.replace('http', 'ws')}/chat`, { 'x-switchyard-version': '2.0.0', 'x-switchyard-service': 'chat' });
    try {
      expect(await roundTrip(socket, 'hi')).toMatchObject({ service: 'chat', version: '2.0.0', echo: 'hi' });
    } finally {
      await closeSocket(socket);
    }
    // Login and resolve name the service too.
    expect((await login(proxy, { service: 'chat', version: '2.0.0' })).json()).toMatchObject({ action: 'connect', port: chat.port });
    expect((await login(proxy, { version: '2.0.0' })).json()).toMatchObject({ error: 'service_required' });
  });

  it('answers 502 JSON when the process cannot be reached, and keeps serving', async () => {
    await usePolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: b150.port }, { version: '1.7.0', port: deadPort }] } });
    const down = await http(`${proxy.url}/a`, { headers: { 'x-switchyard-version': '1.7.0' } });
    expect(down.status).toBe(502);
    const body = down.json<{ error: string; message: string }>();
    expect(body.error).toBe('upstream_unreachable');
    expect(body.message).toContain(String(deadPort));

    const refused = await upgradeRefusal(`${proxy.url.replace('http', 'ws')}/live`, { 'x-switchyard-version': '1.7.0' });
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'upstream_unreachable' });

    expect((await http(`${proxy.url}/a`, { headers: { 'x-switchyard-version': '1.5.0' } })).status).toBe(200);
  });
});

describe('configured carriers', () => {
  it('reads the version from the header named by router.versionHeader', async () => {
    const custom = await startRouter({ mode: 'proxy', router: { versionHeader: 'X-App-Version' }, policy: buildPolicy({ lobby: lobby() }, 1) });
    try {
      expect((await http(`${custom.url}/a`, { headers: { 'x-app-version': '1.6.0' } })).json<BackendAnswer>().version).toBe('1.6.0');
      // The default header name means nothing there; the query and cookie still work.
      expect((await http(`${custom.url}/a`, { headers: { 'x-switchyard-version': '1.6.0' } })).json()).toMatchObject({ error: 'version_required' });
      expect((await http(`${custom.url}/a?switchyard-version=1.4.0`)).json<BackendAnswer>().version).toBe('1.4.0');
      const socket = await openSocket(`${custom.url.replace('http', 'ws')}/live`, { 'x-app-version': '1.5.0' });
      try {
        expect(await roundTrip(socket, 'z')).toMatchObject({ version: '1.5.0' });
      } finally {
        await closeSocket(socket);
      }
    } finally {
      await custom.stop();
    }
  });
});

describe('redirect mode', () => {
  it('answers 404 JSON for paths other than its API, upgrades included', async () => {
    for (const [method, path] of [['GET', '/'], ['GET', '/games/1'], ['POST', '/upload'], ['DELETE', '/x?switchyard-version=1.5.0']] as const) {
      const answer = await http(`${redirect.url}${path}`, { method, headers: { 'x-switchyard-version': '1.5.0' }, ...(method === 'POST' ? { body: 'data' } : {}) });
      expect(answer.status).toBe(404);
      const body = answer.json<{ error: string; message: string }>();
      expect(body.error).toBe('not_found');
      expect(body.message).toMatch(/redirect mode/);
    }
    const refused = await upgradeRefusal(`${redirect.url.replace('http', 'ws')}/live`, { 'x-switchyard-version': '1.5.0' });
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'not_found' });
    // Raw request: a HEAD or OPTIONS * gets a JSON 4xx too.
    const star = await rawRequest(redirect.host, redirect.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(star.status).toBeGreaterThanOrEqual(400);
    expect(star.status).toBeLessThan(500);
  });
});

// ---------------------------------------------------------------- WebSocket helpers

function openSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((done, fail) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: 5_000 });
    socket.once('open', () => done(socket));
    socket.once('error', fail);
    socket.once('unexpected-response', (_req, res) => fail(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

function roundTrip(socket: WebSocket, text: string): Promise<BackendEcho> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no echo of ${text}`)), 5_000);
    socket.once('message', (data) => {
      clearTimeout(timer);
      done(JSON.parse(String(data)) as BackendEcho);
    });
    socket.send(text);
  });
}

function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => {
      socket.terminate();
      done();
    }, 2_000);
    socket.once('close', () => {
      clearTimeout(timer);
      done();
    });
    socket.close();
  });
}

/** Attempts an upgrade that the router must refuse; resolves with the status and body it answered. */
function upgradeRefusal(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: 5_000 });
    socket.once('open', () => {
      socket.terminate();
      fail(new Error('the upgrade was accepted'));
    });
    socket.once('error', () => undefined);
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      res.on('error', fail);
    });
  });
}
