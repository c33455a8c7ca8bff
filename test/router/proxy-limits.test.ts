import { createServer, get, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp, http } from '../helpers/http.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, projectCli, startRouter, stopAllRouters, writeRouterProject, type RouterProcess } from '../helpers/router-process.js';

/**
 * router.proxy (issue 20): the built-in proxy's bounds per process are
 * settings. With the defaults, 70 server-sent-event streams and ordinary
 * requests share one process; with a small bound, a request that waits past
 * queueTimeout is answered 503 with Retry-After, and a place given back goes
 * to the request waiting for it. Real router children in proxy mode, in
 * front of an event-stream server in this process.
 */

const checkUserPm2 = guardUserPm2Home();
let backend: Server;
let port: number;
const streams = new Set<ClientRequest>();

beforeAll(async () => {
  backend = createServer((req, res) => {
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: hello\n\n');
      const ping = setInterval(() => res.write(': ping\n\n'), 500);
      res.on('close', () => clearInterval(ping));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  port = (backend.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of streams) s.destroy();
  await stopAllRouters();
  backend.closeAllConnections();
  await new Promise((resolve) => backend.close(resolve));
  await closeHttp();
  checkUserPm2();
});

const policy = () => buildPolicy({ lobby: { target: '1.5.0', processes: [{ version: '1.5.0', port }] } }, 1);
const VERSION = { 'x-switchyard-version': '1.5.0' };

/** Opens an event stream through the router on a connection of its own; resolves once the first event arrived. */
function openStream(router: RouterProcess): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = get(`${router.url}/events`, { agent: false, headers: VERSION }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) reject(new Error(`stream answered ${res.statusCode}`));
      res.once('data', () => resolve(req));
      res.on('error', () => undefined);
    });
    req.on('error', (e) => (streams.has(req) ? undefined : reject(e)));
    streams.add(req);
  });
}

/** One ordinary request on a connection of its own: its status, Retry-After, body and how long it took. */
function ordinary(router: RouterProcess): Promise<{ status: number; retryAfter: string | undefined; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    get(`${router.url}/api/ping`, { agent: false, headers: VERSION, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body, ms: performance.now() - started });
      });
    }).on('error', reject).on('timeout', function (this: ClientRequest) {
      this.destroy(new Error('no answer within 20 s'));
    });
  });
}

function closeStreams(): void {
  for (const s of streams) s.destroy();
  streams.clear();
}

describe('router.proxy', () => {
  it('with the defaults, 70 event streams and ordinary requests share one process: every ordinary request answered within 2 s', { timeout: 60_000 }, async () => {
    const router = await startRouter({ mode: 'proxy', policy: policy() });
    const opened = await Promise.all(Array.from({ length: 70 }, () => openStream(router)));
    expect(opened).toHaveLength(70);
    const answers = await Promise.all(Array.from({ length: 30 }, () => ordinary(router)));
    const slowest = Math.max(...answers.map((a) => a.ms));
    console.log(`70 event streams open; 30 ordinary requests answered, slowest in ${slowest.toFixed(0)} ms`);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(slowest).toBeLessThan(2000);
    closeStreams();
    await router.stop();
  });

  it('a request that waits past queueTimeout gets 503 with Retry-After; a place given back goes to the one waiting', { timeout: 60_000 }, async () => {
    const router = await startRouter({ mode: 'proxy', policy: policy(), router: { proxy: { connectionsPerProcess: 2, queueTimeout: '600ms' } } });
    const [first] = await Promise.all([openStream(router), openStream(router)]);

    const refused = await ordinary(router);
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).toBe('1');
    expect(JSON.parse(refused.body)).toEqual({ error: 'process_busy', message: expect.stringContaining('router.proxy.queueTimeout') });
    expect(refused.ms).toBeGreaterThanOrEqual(550);
    expect(refused.ms).toBeLessThan(2000);

    // One stream ends while a request waits: that request gets its place.
    const waiting = ordinary(router);
    setTimeout(() => first!.destroy(), 200);
    const admitted = await waiting;
    expect(admitted.status).toBe(200);
    expect(admitted.ms).toBeLessThan(600);

    const metrics = (await http(`${router.url}/metrics`)).text;
    expect(metrics).toMatch(/^switchyard_proxy_queue_timeouts_total 1$/m);
    expect(metrics).toMatch(/^switchyard_proxy_requests_waiting 0$/m);
    closeStreams();
    await router.stop();
  });

  it('refuses a bad setting, naming the key', async () => {
    const project = await writeRouterProject({ policy: policy(), router: { proxy: { connectionsPerProcess: 0, queueTimeout: 'soon' } } });
    try {
      const result = await projectCli(project, project.pm2Home)('router', 'run');
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain('router.proxy.connectionsPerProcess');
      expect(result.stderr).toContain('router.proxy.queueTimeout');
    } finally {
      await project.cleanup();
    }
  });
});
