import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { cliHeaders } from '../helpers/signed.js';
import { symlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllBackends, startBackend, type BackendAnswer, type BackendServer } from '../helpers/backends.js';
import { closeHttp, http, rawRequest } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * Which paths are the router's and which the application's, path
 * normalisation, the router's own X-Forwarded-* (HTTP and upgrades), and
 * what /healthz tells a caller without credentials. A real proxy-mode
 * router child and real backends on 127.0.0.1.
 */

let backend: BackendServer;
let upgrades: Server;
let upgradeSeen: { url: string; headers: IncomingHttpHeaders }[] = [];
let router: RouterProcess;

const V = { 'x-switchyard-version': '1.5.0' };
const WS_VERSION = '1.6.0';

beforeAll(async () => {
  backend = await startBackend({ version: '1.5.0' });
  // A process that records each upgrade it is asked for and answers 101.
  upgrades = createServer((_req, res) => res.writeHead(404).end());
  upgrades.on('upgrade', (req, socket) => {
    upgradeSeen.push({ url: req.url ?? '', headers: req.headers });
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  await new Promise<void>((resolve) => upgrades.listen(0, '127.0.0.1', resolve));
  const wsPort = (upgrades.address() as { port: number }).port;
  router = await startRouter({
    mode: 'proxy',
    policy: buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port: backend.port }, { version: WS_VERSION, port: wsPort }] } }, 1),
  });
});

const userPm2HomeUntouched = guardUserPm2Home();
afterAll(async () => {
  await stopAllRouters();
  await closeAllBackends();
  await new Promise((resolve) => upgrades?.close(resolve));
  await closeHttp();
  userPm2HomeUntouched();
});

/** A request sent byte for byte (no client-side normalisation). */
const raw = (target: string, headers: Record<string, string> = V) =>
  rawRequest(router.host, router.port, `GET ${target} HTTP/1.1\r\nHost: ${router.host}:${router.port}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`);

describe('only the router\'s own paths are the router\'s', () => {
  it.each(['/v1/users', '/v1/', '/v1/login/', '/v1/status/x', '/V1/LOGIN', '/metrics2', '/healthz/deep', '/uikit'])('%s is forwarded to the application', async (path) => {
    const answer = await http(`${router.url}${path}`, { headers: V });
    expect(answer.status).toBe(200);
    expect(answer.json<BackendAnswer>()).toMatchObject({ version: '1.5.0', path });
  });

  it('POST /v1/users too, with its body', async () => {
    const answer = await http(`${router.url}/v1/users`, { method: 'POST', json: { name: 'ada' }, headers: V });
    expect(answer.json<BackendAnswer>()).toMatchObject({ method: 'POST', path: '/v1/users', body: '{"name":"ada"}' });
  });

  it('the router answers its own paths itself, whatever version the request carries', async () => {
    const before = backend.counters.requests;
    expect((await http(`${router.url}/v1/status`, { headers: V })).status).toBe(401);
    expect((await http(`${router.url}/healthz`, { headers: V })).json()).toEqual({ ok: true, generation: 1 });
    expect((await http(`${router.url}/v1/login`, { headers: V })).status).toBe(405);
    // The web view asks for the token (401, its sign-in page), from the router itself.
    const ui = await http(`${router.url}/ui/`, { headers: V });
    expect(ui.status).toBe(401);
    expect(ui.text).toMatch(/switchyard: sign in/);
    expect((await raw('/games/../v1/status')).status).toBe(401);
    expect(backend.counters.requests).toBe(before);
  });
});

describe('paths are normalised before they are forwarded', () => {
  it.each([
    ['/a/../b', '/b'],
    ['/a/./b/', '/a/b/'],
    ['/a/%2e%2e/v1/users?x=1', '/v1/users?x=1'],
    ['/a/.%2E/b', '/b'],
  ])('%s reaches the process as %s', async (sent, forwarded) => {
    const answer = await raw(sent);
    expect(answer.status).toBe(200);
    expect(answer.json<BackendAnswer>().url).toBe(forwarded);
  });

  it.each(['/../../x', '/..', '/a/../../x', '/%2e%2e/%2e%2e/etc/passwd', '/.%2e/x', '/..%2f..%2fx', '/%252e%252e/x', '/..%5c..%5cx'])('%s climbs above the root: 400, not forwarded', async (target) => {
    const before = backend.counters.requests;
    const answer = await raw(target);
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: 'invalid_path' });
    expect(backend.counters.requests).toBe(before);
  });

  it('an upgrade whose path climbs above the root is refused with 400 too', async () => {
    const answer = await rawRequest(router.host, router.port, `GET /../x HTTP/1.1\r\nHost: r\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nx-switchyard-version: ${WS_VERSION}\r\n\r\n`);
    expect(answer.status).toBe(400);
  });
});

describe('the router sets X-Forwarded-For, -Proto and -Host itself', () => {
  const spoofed = { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Port': '443', Forwarded: 'for=6.6.6.6;proto=https' };

  it('on HTTP requests, replacing what the client sent', async () => {
    const headers = (await raw('/who', { ...V, ...spoofed })).json<BackendAnswer>().headers;
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe(`${router.host}:${router.port}`);
    expect(headers['x-forwarded-port']).toBeUndefined();
    expect(headers.forwarded).toBeUndefined();
  });

  it('on WebSocket upgrades, with the normalised path', async () => {
    upgradeSeen = [];
    const head = [`GET /chat/./room/../lobby HTTP/1.1`, `Host: ${router.host}:${router.port}`, 'Upgrade: websocket', 'Connection: Upgrade', `x-switchyard-version: ${WS_VERSION}`, ...Object.entries(spoofed).map(([k, v]) => `${k}: ${v}`)];
    const answer = await rawRequest(router.host, router.port, `${head.join('\r\n')}\r\n\r\n`);
    expect(answer.status).toBe(101);
    expect(upgradeSeen).toHaveLength(1);
    const seen = upgradeSeen[0]!;
    expect(seen.url).toBe('/chat/lobby');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(`${router.host}:${router.port}`);
    expect(seen.headers['x-forwarded-port']).toBeUndefined();
    expect(seen.headers.forwarded).toBeUndefined();
  });
});

describe('/healthz', () => {
  it('without a token says only whether the router serves, and which generation', async () => {
    const answer = await http(`${router.url}/healthz`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({ ok: true, generation: 1 });
  });

  it('with the token, the details, and still no path', async () => {
    const answer = await http(`${router.url}/healthz`, { headers: cliHeaders(router.token, '/healthz') });
    expect(answer.json()).toEqual({ ok: true, generation: 1, fileBroken: false, error: null, mode: 'proxy' });
  });

  it('reveals no path without a token while the policy file is missing, broken or a symlink; with the token, no path either', async () => {
    const lone = await startRouter({ mode: 'redirect', policy: null, expectHealthy: false });
    const secret = join(lone.dir, 'secret-file');
    await writeFile(secret, 'root:x:0:0:the first bytes of a private file\n');
    const cases: [string, () => Promise<void>][] = [
      ['missing', async () => undefined],
      ['broken', () => lone.writePolicyText('{ not json')],
      ['a symlink', async () => {
        await rm(lone.policyPath, { force: true });
        await symlink(secret, lone.policyPath);
      }],
    ];
    let previous: string | null | undefined;
    for (const [what, make] of cases) {
      await make();
      previous = (await lone.waitForHealth((h) => h.fileBroken === true && typeof h.error === 'string' && h.error !== previous)).error;
      const open = await http(`${lone.url}/healthz`);
      expect(open.status, what).toBe(503);
      expect(open.json(), what).toEqual({ ok: false, generation: null });
      const detailed = await http(`${lone.url}/healthz`, { headers: cliHeaders(lone.token, '/healthz') });
      for (const text of [open.text, detailed.text]) {
        expect(text, what).not.toContain(lone.dir);
        expect(text, what).not.toContain(lone.stateDir);
        expect(text, what).not.toContain('/tmp');
      }
      expect(open.text, what).not.toContain('root:x');
    }
    await lone.stop();
  });
});
