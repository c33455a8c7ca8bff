import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllBackends, startBackend, type BackendAnswer, type BackendEcho, type BackendServer } from '../helpers/backends.js';
import { haproxyMissing, startHaproxyRouter, type HaproxyRouter } from '../helpers/haproxy.js';
import { closeHttp, http, postJson } from '../helpers/http.js';
import { buildPolicy, stopAllRouters, type ServiceSpec } from '../helpers/router-process.js';
import { openSocket, roundTrip } from './support.js';

/**
 * HAProxy as the data plane, end to end: a real `router run` with
 * router.dataPlane: haproxy, the HAProxy it owns, and real backends. Every
 * answer HAProxy gives itself (resolve, 404) is compared with the router's
 * own answer to the same question, and every policy change must land
 * without a reload (the worker pid stays).
 */

const missing = haproxyMissing();

let b140: BackendServer;
let b150: BackendServer;
let b151: BackendServer;
let b160: BackendServer;
let chat: BackendServer;
let router: HaproxyRouter;
let generation = 1;

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

async function usePolicy(services: Record<string, ServiceSpec>): Promise<void> {
  generation += 1;
  await router.writePolicy(buildPolicy(services, generation));
  await router.waitApplied(generation);
}

const viaEdge = (path: string, headers: Record<string, string> = {}) => http(`${router.edge}${path}`, { headers });
const viaRouter = (path: string, headers: Record<string, string> = {}) => http(`${router.url}${path}`, { headers });

describe.skipIf(missing)('HAProxy data plane: routing', () => {
  beforeAll(async () => {
    [b140, b150, b151, b160, chat] = await Promise.all([
      startBackend({ version: '1.4.0' }),
      startBackend({ version: '1.5.0' }),
      startBackend({ version: '1.5.1' }),
      startBackend({ version: '1.6.0' }),
      startBackend({ service: 'chat', version: '2.0.0' }),
    ]);
    router = await startHaproxyRouter({ policy: buildPolicy({ lobby: lobby() }, generation) });
    await router.waitApplied(generation);
  });

  afterAll(async () => {
    await stopAllRouters();
    await closeAllBackends();
    await closeHttp();
  });

  it('routes by the version header, the query parameter and the cookie', async () => {
    const cases: [string, Record<string, string>, string][] = [
      ['/a', { 'x-switchyard-version': '1.4.0' }, '1.4.0'],
      ['/a?switchyard-version=1.6.0', {}, '1.6.0'],
      ['/a', { cookie: 'theme=dark; switchyard-version=1.5.0' }, '1.5.0'],
      // The header wins over the query parameter, which wins over the cookie.
      ['/a?switchyard-version=1.6.0', { 'x-switchyard-version': '1.4.0', cookie: 'switchyard-version=1.5.0' }, '1.4.0'],
      ['/a?switchyard-version=1.6.0', { cookie: 'switchyard-version=1.5.0' }, '1.6.0'],
    ];
    for (const [path, headers, version] of cases) {
      const answer = await viaEdge(path, headers);
      expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(200);
      expect(answer.json<BackendAnswer>().version).toBe(version);
    }
  });

  it('gives every carrier, service header and path the router\'s answer', async () => {
    const cases: [string, Record<string, string>][] = [
      // The service header naming the only service, or empty, takes the full chain rather than the one-lookup path.
      ['/a', { 'x-switchyard-service': 'lobby', 'x-switchyard-version': '1.6.0' }],
      ['/a', { 'x-switchyard-service': '', 'x-switchyard-version': '1.6.0' }],
      ['/a', { 'x-switchyard-service': 'nope', 'x-switchyard-version': '1.6.0' }],
      // The header wins even when it names no served version (no fallback to the query parameter).
      ['/a?switchyard-version=1.6.0', { 'x-switchyard-version': '1.9.0' }],
      ['/a', { 'x-switchyard-version': 'not-a-version' }],
      ['/a', { cookie: 'switchyard-version=1.9.0' }],
      ['/a', {}],
      // The router's own paths go to the router even with a served version; any other path under /v1/ too (it forwards).
      ['/healthz', { 'x-switchyard-version': '1.6.0' }],
      ['/v1/users', { 'x-switchyard-version': '1.6.0' }],
      ['/healthzz', { 'x-switchyard-version': '1.6.0' }],
      ['/uix', { 'x-switchyard-version': '1.5.0' }],
    ];
    for (const [path, headers] of cases) {
      const edge = await viaEdge(path, headers);
      const own = await viaRouter(path, headers);
      const what = `${path} ${JSON.stringify(headers)}`;
      expect(edge.status, what).toBe(own.status);
      if (own.status !== 200) expect(edge.json(), what).toEqual(own.json());
      else if (path === '/healthz') expect(edge.json().generation, what).toBe(own.json().generation);
      else expect(edge.json<BackendAnswer>().version, what).toBe(own.json<BackendAnswer>().version);
    }
  });

  it('answers an unserved version with the router\'s own 404 body', async () => {
    for (const path of ['/a?switchyard-version=1.9.0', '/v1/resolve?version=1.9.0']) {
      const edge = await viaEdge(path);
      const own = await viaRouter(path);
      expect(edge.status).toBe(404);
      expect(own.status).toBe(404);
      expect(edge.json()).toEqual(own.json());
      expect(edge.json().error).toBe('version_not_served');
    }
  });

  it('answers /v1/resolve from its maps with the router\'s JSON, and leaves bad input to the router', async () => {
    for (const query of ['version=1.5.0', 'version=1.4.0&service=lobby', 'service=&version=1.6.0', 'version=1.6.0&service=lob%62y', 'version=bad', 'service=nope&version=1.5.0', '']) {
      const edge = await viaEdge(`/v1/resolve?${query}`);
      const own = await viaRouter(`/v1/resolve?${query}`);
      expect(edge.status, query).toBe(own.status);
      expect(edge.json(), query).toEqual(own.json());
    }
  });

  it('forwards the router\'s own endpoints to the router', async () => {
    expect((await viaEdge('/healthz')).json().generation).toBe(generation);
    const login = await postJson(`${router.edge}/v1/login`, { version: '1.4.0', terminal: 't1' });
    expect(login.json()).toMatchObject({ action: 'upgrade', targetVersion: '1.5.0' });
    expect((await viaEdge('/v1/status')).status).toBe(401);
    expect((await viaEdge('/metrics')).status).toBe(200);
  });

  it('passes WebSocket upgrades through to the matching version', async () => {
    const socket = await openSocket(`${router.edge.replace('http', 'ws')}/live?switchyard-version=1.4.0`);
    try {
      expect((await roundTrip<BackendEcho>(socket, 'hi')).version).toBe('1.4.0');
    } finally {
      socket.close();
    }
  });

  it('applies deploys, drains and retires at run time, with no reload', async () => {
    const worker = await router.workerPid();
    await usePolicy({ lobby: lobby({ processes: [{ version: '1.5.0', port: b150.port, state: 'draining' }, { version: '1.6.0', port: b160.port }, { version: '1.4.0', port: b140.port, state: 'retired' }], target: '1.6.0' }) });
    expect((await viaEdge('/a', { 'x-switchyard-version': '1.5.0' })).json<BackendAnswer>().version).toBe('1.5.0');
    expect((await viaEdge('/a', { 'x-switchyard-version': '1.4.0' })).status).toBe(404);
    // Back: a rolled-back version is served again at once.
    await usePolicy({ lobby: lobby() });
    expect((await viaEdge('/a', { 'x-switchyard-version': '1.4.0' })).json<BackendAnswer>().version).toBe('1.4.0');
    expect(await router.workerPid()).toBe(worker);
  });

  it('follows the patch match rule like the router', async () => {
    await usePolicy({ lobby: { target: '1.5.1', match: 'patch', processes: [{ version: '1.5.1', port: b151.port }, { version: '1.4.0', port: b140.port, state: 'draining' }] } });
    for (const version of ['1.5.0', '1.5.7', '1.4.2', '1.3.0', '1.5.0-beta.1']) {
      const edge = await viaEdge('/a', { 'x-switchyard-version': version });
      const own = await viaRouter('/a', { 'x-switchyard-version': version });
      expect(edge.status, version).toBe(own.status);
      if (own.status === 200) expect(edge.json<BackendAnswer>().version, version).toBe(own.json<BackendAnswer>().version);
      else expect(edge.json(), version).toEqual(own.json());
      // /v1/resolve by a match key: past HAProxy's exact lookup, the same answer as the router's.
      const resolved = await viaEdge(`/v1/resolve?service=lobby&version=${encodeURIComponent(version)}`);
      const ownResolved = await viaRouter(`/v1/resolve?service=lobby&version=${encodeURIComponent(version)}`);
      expect(resolved.status, version).toBe(ownResolved.status);
      expect(resolved.json(), version).toEqual(ownResolved.json());
    }
  });

  it('takes a new service with a seamless reload, and routes by the service header', async () => {
    const worker = await router.workerPid();
    await usePolicy({ lobby: lobby(), chat: { target: '2.0.0', processes: [{ version: '2.0.0', port: chat.port }] } });
    expect(await router.workerPid()).not.toBe(worker);
    expect(router.stderr()).toMatch(/HAProxy reload \(seamless\) for generation \d+: service chat is new/);
    const answer = await viaEdge('/a', { 'x-switchyard-service': 'chat', 'x-switchyard-version': '2.0.0' });
    expect(answer.json<BackendAnswer>().service).toBe('chat');
    // Two services: without the header the router explains.
    const own = await viaRouter('/a', { 'x-switchyard-version': '1.5.0' });
    const edge = await viaEdge('/a', { 'x-switchyard-version': '1.5.0' });
    expect(edge.status).toBe(400);
    expect(edge.json()).toEqual(own.json());
  });
});
