import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Router } from '../../src/router/router.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { closeAllBackends, startBackend, type BackendServer } from '../helpers/backends.js';
import { tempDir } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { policyOf, proc, service } from '../helpers/policy-builder.js';
import { heartbeatHeaders } from '../helpers/signed.js';

/**
 * The router counts each proxied answer per service and version (status
 * class, upstream failures, latency), exports them on /metrics, and hands
 * the rollout controller an interval's figures with take(); heartbeats'
 * `metrics` counters (redirect mode) land in the same figures. A real
 * router in this process, real backends on 127.0.0.1.
 */

let b150: BackendServer;
let odd: Server;
let proxy: { router: Router; url: string; secret: string; cleanup: () => Promise<void> };
let redirect: { router: Router; url: string; secret: string; cleanup: () => Promise<void> };

async function startRouter(mode: 'proxy' | 'redirect', ports: Record<string, number>) {
  const { dir, cleanup } = await tempDir('sy-reqmetrics-');
  const store = new PolicyStore(dir);
  await store.init();
  const processes = Object.entries(ports).map(([id, port]) => proc(id, 'active', port));
  await store.write(structuredClone(policyOf({ lobby: service('1.5.0', processes) })), (await store.read()).generation);
  const secret = randomBytes(32).toString('hex');
  const router = new Router({
    stateDir: dir, host: '127.0.0.1', port: 0, mode, heartbeatIntervalMs: 1000, staleAfter: 3,
    versionHeader: 'x-switchyard-version', serviceHeader: 'x-switchyard-service', maxBodyBytes: 65_536,
    token: secret, policyPollMs: 100, shutdownGraceMs: 500, log: () => undefined,
  });
  const { port } = await router.start();
  return { router, url: `http://127.0.0.1:${port}`, secret, cleanup: async () => { await router.stop(); await cleanup(); } };
}

/** Answers with headers at once, then either finishes the body after 300 ms or resets the connection. */
function startOddBackend(): Promise<Server> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('start ');
    const timer = setTimeout(() => (req.url?.includes('reset') ? res.socket?.destroy() : res.end('end')), 300);
    res.on('close', () => clearTimeout(timer));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const get = async (version: string, path = '/x'): Promise<number> => {
  const response = await fetch(`${proxy.url}${path}`, { headers: { 'x-switchyard-version': version } });
  await response.arrayBuffer().catch(() => undefined);
  return response.status;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  b150 = await startBackend({ version: '1.5.0' });
  odd = await startOddBackend();
  const dead = await freePort();
  proxy = await startRouter('proxy', {
    'lobby@1.5.0#0': b150.port,
    'lobby@1.6.0#0': dead,
    'lobby@1.7.0#0': (odd.address() as AddressInfo).port,
  });
  redirect = await startRouter('redirect', { 'lobby@1.5.0#0': b150.port });
});

afterAll(async () => {
  await proxy?.cleanup();
  await redirect?.cleanup();
  odd?.close();
  await closeAllBackends();
});

describe('proxied answers per version', () => {
  it('counts status classes and upstream failures, and take() gives the interval since the last take', async () => {
    const requests = proxy.router.state.metrics.requests;
    await requests.take('lobby', '1.5.0');
    for (let i = 0; i < 20; i += 1) expect(await get('1.5.0')).toBe(200);
    for (let i = 0; i < 5; i += 1) expect(await get('1.5.0', '/x?backend-status=503')).toBe(503);
    for (let i = 0; i < 3; i += 1) expect(await get('1.5.0', '/x?backend-status=404')).toBe(404);
    expect(await get('1.5.0', '/x?backend-delay=250')).toBe(200);
    for (let i = 0; i < 2; i += 1) expect(await get('1.6.0')).toBe(502);

    const lobby150 = await requests.take('lobby', '1.5.0');
    expect(lobby150).toMatchObject({ requests: 29, errors: 5 });
    // One answer in 29 took 250 ms: it sets the 99th percentile.
    expect(lobby150.p99Ms).toBeGreaterThan(200);
    expect(lobby150.p99Ms).toBeLessThanOrEqual(300);
    expect(await requests.take('lobby', '1.6.0')).toMatchObject({ requests: 2, errors: 2 });
    expect(await requests.take('lobby', '1.5.0')).toEqual({ requests: 0, errors: 0 });

    await get('1.5.0');
    expect(await requests.take('lobby', '1.5.0')).toMatchObject({ requests: 1, errors: 0 });
  });

  it('exports switchyard_requests_total by code and the latency histogram on /metrics', async () => {
    const text = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(text).toMatch(/^switchyard_requests_total\{service="lobby",version="1\.5\.0",code="2xx"\} 22$/m);
    expect(text).toMatch(/^switchyard_requests_total\{service="lobby",version="1\.5\.0",code="5xx"\} 5$/m);
    expect(text).toMatch(/^switchyard_requests_total\{service="lobby",version="1\.5\.0",code="4xx"\} 3$/m);
    expect(text).toMatch(/^switchyard_requests_total\{service="lobby",version="1\.6\.0",code="upstream_error"\} 2$/m);
    expect(text).toContain('# TYPE switchyard_request_duration_seconds histogram');
    expect(text).toMatch(/^switchyard_request_duration_seconds_bucket\{service="lobby",version="1\.5\.0",le="\+Inf"\} 30$/m);
    expect(text).toMatch(/^switchyard_request_duration_seconds_count\{service="lobby",version="1\.5\.0"\} 30$/m);
    const under100ms = Number(/^switchyard_request_duration_seconds_bucket\{service="lobby",version="1\.5\.0",le="0\.1"\} (\d+)$/m.exec(text)?.[1]);
    expect(under100ms).toBe(29);
    const sum = Number(/^switchyard_request_duration_seconds_sum\{service="lobby",version="1\.5\.0"\} ([\d.e-]+)$/m.exec(text)?.[1]);
    expect(sum).toBeGreaterThan(0.25);
  });

  it('an answer the process cuts off is an upstream error; a terminal that leaves is not', async () => {
    const requests = proxy.router.state.metrics.requests;
    await requests.take('lobby', '1.7.0');
    // The process resets mid-body.
    await fetch(`${proxy.url}/reset`, { headers: { 'x-switchyard-version': '1.7.0' } }).then((r) => r.text()).catch(() => undefined);
    // The terminal hangs up after the headers.
    await new Promise<void>((resolve) => {
      const req = request(`${proxy.url}/leave`, { headers: { 'x-switchyard-version': '1.7.0' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.end();
    });
    await sleep(500);
    expect(await requests.take('lobby', '1.7.0')).toMatchObject({ requests: 2, errors: 1 });
  });

  it('counts WebSocket upgrades by the process\'s answer, and a process it cannot reach as an error', async () => {
    const requests = proxy.router.state.metrics.requests;
    await requests.take('lobby', '1.5.0');
    await requests.take('lobby', '1.6.0');
    const ws = new WebSocket(`${proxy.url.replace('http', 'ws')}/ws`, { headers: { 'x-switchyard-version': '1.5.0' } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.close();
    const failed = new WebSocket(`${proxy.url.replace('http', 'ws')}/ws`, { headers: { 'x-switchyard-version': '1.6.0' } });
    await new Promise((resolve) => failed.once('error', resolve));
    expect(await requests.take('lobby', '1.5.0')).toMatchObject({ requests: 1, errors: 0 });
    expect(await requests.take('lobby', '1.6.0')).toMatchObject({ requests: 1, errors: 1 });
    expect((await (await fetch(`${proxy.url}/metrics`)).text())).toMatch(/switchyard_requests_total\{service="lobby",version="1\.5\.0",code="1xx"\} 1$/m);
  });
});

describe('heartbeat-reported counters (redirect mode)', () => {
  const beat = (seq: number, metrics?: unknown, to = redirect) => {
    const body = JSON.stringify({ service: 'lobby', version: '1.5.0', process: 'lobby@1.5.0#0', seq, terminals: { '1.5.0': 3 }, ...(metrics === undefined ? {} : { metrics }) });
    return fetch(`${to.url}/v1/heartbeat`, { method: 'POST', headers: heartbeatHeaders(to.secret, body), body });
  };

  it('sums each accepted beat\'s counters into the version\'s interval, never a beat twice', async () => {
    const requests = redirect.router.state.metrics.requests;
    expect((await beat(0, { requests: 30, errors: 1 })).status).toBe(204);
    expect((await beat(1, { requests: 25, errors: 0 })).status).toBe(204);
    // The same seq again (signed afresh, so not a replay): out of order, not counted.
    expect((await beat(1, { requests: 25, errors: 0 })).status).toBe(204);
    expect((await beat(2)).status).toBe(204);
    expect(await requests.take('lobby', '1.5.0')).toEqual({ requests: 55, errors: 1 });
    const text = await (await fetch(`${redirect.url}/metrics`)).text();
    expect(text).toMatch(/^switchyard_reported_requests_total\{service="lobby",version="1\.5\.0",outcome="ok"\} 54$/m);
    expect(text).toMatch(/^switchyard_reported_requests_total\{service="lobby",version="1\.5\.0",outcome="error"\} 1$/m);
  });

  it('a router in proxy mode counts the traffic itself and leaves heartbeat counters out, so nothing counts twice', async () => {
    const requests = proxy.router.state.metrics.requests;
    await requests.take('lobby', '1.5.0');
    expect((await beat(0, { requests: 30, errors: 1 }, proxy)).status).toBe(204);
    expect(await requests.take('lobby', '1.5.0')).toEqual({ requests: 0, errors: 0 });
  });

  it.each([
    [{ requests: 1, errors: 2 }, 'metrics.errors: expected errors to be at most requests'],
    [{ requests: -1, errors: 0 }, 'metrics.requests: expected a count of 0 or more'],
    [{ requests: 1.5, errors: 0 }, 'metrics.requests: expected a whole number'],
    [{ requests: 1 }, 'metrics.errors'],
  ])('refuses a beat with bad counters %j', async (metrics, message) => {
    const response = await beat(10, metrics);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain(message);
  });
});
