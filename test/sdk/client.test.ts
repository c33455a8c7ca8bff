import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { login, resolve, type RetryCounter, SwitchyardClientError, UpgradeRequiredError, VersionNotServedError } from '../../src/sdk/client.js';
import { freePort } from '../helpers/free-port.js';
import { guardUserPm2Home } from '../helpers/pm2-home.js';
import { buildPolicy, startRouter, stopAllRouters, type RouterProcess } from '../helpers/router-process.js';

/**
 * switchyard/client against a real router child over a hand-written policy:
 * lobby targets 1.5.0 (active on port A) while 1.4.0 drains (port B).
 * A small counting relay in front of the router shows how many requests
 * each call really made, so "retried" and "not retried" are counted, not
 * guessed from timing.
 */

const checkUserPm2 = guardUserPm2Home();
const PORT_NEW = 7515;
const PORT_OLD = 7514;
const POLICY = buildPolicy(
  {
    lobby: {
      target: '1.5.0',
      processes: [
        { version: '1.5.0', port: PORT_NEW },
        { version: '1.4.0', port: PORT_OLD, state: 'draining' },
      ],
    },
  },
  1,
);

let router: RouterProcess;
/** A router with no policy file: every login and resolve is 503 no_policy. */
let empty: RouterProcess;
const servers: Array<HttpServer | NetServer> = [];
const sockets = new Set<Socket>();

interface Relay {
  url: string;
  /** Requests relayed so far, by method and path (query left off). */
  count(path?: string): number;
  reset(): void;
}

/** An HTTP relay in front of `target` that counts what passes. */
async function relay(target: () => string): Promise<Relay> {
  const seen: string[] = [];
  const server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    seen.push(new URL(req.url ?? '/', 'http://relay.invalid').pathname);
    try {
      const answer = await fetch(`${target()}${req.url}`, {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(await answer.text());
    } catch {
      res.destroy();
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    count: (path) => (path === undefined ? seen.length : seen.filter((p) => p === path).length),
    reset: () => void seen.splice(0),
  };
}

/** A TCP server that accepts and then does `behave` with each connection; counts connections. */
async function rawServer(behave: 'reset' | 'silent'): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createNetServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (behave === 'reset') socket.resetAndDestroy();
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, connections: () => connections };
}

async function failure(promise: Promise<unknown>): Promise<SwitchyardClientError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SwitchyardClientError);
    return error as SwitchyardClientError;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  [router, empty] = await Promise.all([startRouter({ policy: POLICY }), startRouter({ policy: null })]);
});

afterEach(() => {
  for (const socket of sockets) socket.destroy();
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((done) => s.close(() => done()))));
  await stopAllRouters();
  checkUserPm2();
});

describe('login', () => {
  it('a terminal on the target version connects to its process', async () => {
    const where = await login({ router: router.url, service: 'lobby', version: '1.5.0', terminal: 't-1' });
    expect(where).toEqual({ service: 'lobby', version: '1.5.0', address: '127.0.0.1', port: PORT_NEW, process: 'lobby@1.5.0#0', upgrades: [], retries: 0, failovers: 0 });
  });

  it('the service may be left out when the router has only one', async () => {
    const where = await login({ router: `${router.url}/`, version: '1.5.0', terminal: 't-2' });
    expect(where.port).toBe(PORT_NEW);
  });

  it('an old version is told to change: onUpgrade gets the target, then it logs in again with the new version', async () => {
    const counting = await relay(() => router.url);
    const calls: string[] = [];
    let running = '1.4.0';
    const where = await login({
      router: counting.url,
      service: 'lobby',
      version: running,
      terminal: 't-3',
      onUpgrade: (target) => {
        calls.push(target);
        running = target;
        return target;
      },
    });
    expect(calls).toEqual(['1.5.0']);
    expect(running).toBe('1.5.0');
    // Following a version change is the protocol, not a retry.
    expect(where).toEqual({ service: 'lobby', version: '1.5.0', address: '127.0.0.1', port: PORT_NEW, process: 'lobby@1.5.0#0', upgrades: ['1.5.0'], retries: 0, failovers: 0 });
    expect(counting.count('/v1/login')).toBe(2);
  });

  it('onUpgrade may return nothing: the target is taken as the new version', async () => {
    const where = await login({ router: router.url, service: 'lobby', version: '1.3.9', terminal: 't-4', onUpgrade: async () => undefined });
    expect(where.version).toBe('1.5.0');
    expect(where.upgrades).toEqual(['1.5.0']);
  });

  it('without onUpgrade it fails with UpgradeRequiredError naming the target version', async () => {
    const error = await failure(login({ router: router.url, service: 'lobby', version: '1.4.0', terminal: 't-5' }));
    expect(error).toBeInstanceOf(UpgradeRequiredError);
    expect(error.code).toBe('upgrade_required');
    expect((error as UpgradeRequiredError).targetVersion).toBe('1.5.0');
    expect(error.message).toContain('1.5.0');
  });

  it('follows at most maxUpgrades version changes (an app that cannot change version does not loop)', async () => {
    const counting = await relay(() => router.url);
    const calls: string[] = [];
    // The app "changes" but keeps reporting its old version.
    const error = await failure(
      login({ router: counting.url, service: 'lobby', version: '1.4.0', terminal: 't-6', maxUpgrades: 2, onUpgrade: (t) => (calls.push(t), '1.4.0') }),
    );
    expect(error.code).toBe('too_many_upgrades');
    expect(calls).toEqual(['1.5.0', '1.5.0']);
    expect(counting.count('/v1/login')).toBe(3);

    const none = await failure(login({ router: router.url, service: 'lobby', version: '1.4.0', terminal: 't-7', maxUpgrades: 0, onUpgrade: (t) => (calls.push(t), t) }));
    expect(none.code).toBe('too_many_upgrades');
    expect(calls).toHaveLength(2);
  });
});

describe('resolve', () => {
  it('gives the destination of a version that is served, draining included', async () => {
    expect(await resolve({ router: router.url, service: 'lobby', version: '1.5.0' })).toEqual({ service: 'lobby', version: '1.5.0', address: '127.0.0.1', port: PORT_NEW, process: 'lobby@1.5.0#0', retries: 0, failovers: 0 });
    expect(await resolve({ router: router.url, version: '1.4.0' })).toEqual({ service: 'lobby', version: '1.4.0', address: '127.0.0.1', port: PORT_OLD, process: 'lobby@1.4.0#0', retries: 0, failovers: 0 });
  });

  it('an unserved version is VersionNotServedError listing the versions served, not retried', async () => {
    const counting = await relay(() => router.url);
    const error = await failure(resolve({ router: counting.url, service: 'lobby', version: '1.3.0', retries: 3 }));
    expect(error).toBeInstanceOf(VersionNotServedError);
    expect(error.code).toBe('version_not_served');
    expect(error.status).toBe(404);
    expect([...(error as VersionNotServedError).versions].sort()).toEqual(['1.4.0', '1.5.0']);
    expect(counting.count()).toBe(1);
    expect(error.retries).toBe(0);
  });
});

describe('errors and retries', () => {
  it('an invalid version (400) fails at once with the router\'s code, without retrying', async () => {
    const counting = await relay(() => router.url);
    const started = Date.now();
    const error = await failure(login({ router: counting.url, service: 'lobby', version: 'not-a-version', terminal: 't-8', retries: 3, backoffMs: 500 }));
    expect(error.code).toBe('invalid_version');
    expect(error.status).toBe(400);
    expect(error.message.length).toBeGreaterThan(10);
    expect(counting.count('/v1/login')).toBe(1);
    expect(Date.now() - started).toBeLessThan(400);

    const unknown = await failure(resolve({ router: counting.url, service: 'nope', version: '1.5.0', retries: 3, backoffMs: 500 }));
    expect(unknown.status).toBe(404);
    expect(counting.count()).toBe(2);
  });

  it('a 503 (no policy loaded) is retried, then reported with its code', async () => {
    const counting = await relay(() => empty.url);
    const error = await failure(login({ router: counting.url, service: 'lobby', version: '1.5.0', terminal: 't-9', retries: 2, backoffMs: 20 }));
    expect(error.code).toBe('no_policy');
    expect(error.status).toBe(503);
    expect(counting.count('/v1/login')).toBe(3);
    expect(error.retries).toBe(2);
  });

  it('a 503 clears once the router has a policy: a login that started during it succeeds', async () => {
    let target = empty.url;
    const counting = await relay(() => target);
    const pending = login({ router: counting.url, service: 'lobby', version: '1.5.0', terminal: 't-10', retries: 6, backoffMs: 100 });
    // Answered 503 at first; then the router "gets" its policy.
    await expect.poll(() => counting.count('/v1/login'), { timeout: 2000, interval: 5 }).toBeGreaterThanOrEqual(1);
    target = router.url;
    const where = await pending;
    expect(where.port).toBe(PORT_NEW);
    expect(counting.count('/v1/login')).toBeGreaterThanOrEqual(2);
    // The success is not shown as a first-try one: every attempt after the first is a retry.
    expect(where.retries).toBe(counting.count('/v1/login') - 1);
  });

  it('every retry is counted: per call in the result or the error, across calls in a counter, each with its reason', async () => {
    let target = empty.url;
    const counting = await relay(() => target);
    const counter: RetryCounter = { retries: 0 };
    const reasons: string[] = [];
    const onRetry = (reason: SwitchyardClientError, attempt: number) => reasons.push(`${attempt}:${reason.code}`);

    // First try: nothing to count.
    const first = await resolve({ router: router.url, service: 'lobby', version: '1.5.0', counter, onRetry });
    expect(first.retries).toBe(0);
    expect(counter.retries).toBe(0);

    // 503 (no policy) at least twice, then the router has its policy: a success after retries, each counted.
    const pending = resolve({ router: counting.url, service: 'lobby', version: '1.5.0', retries: 5, backoffMs: 150, counter, onRetry });
    await expect.poll(() => counting.count('/v1/resolve'), { timeout: 5000, interval: 5 }).toBeGreaterThanOrEqual(2);
    target = router.url;
    const retried = await pending;
    expect(retried.port).toBe(PORT_NEW);
    expect(retried.retries).toBe(counting.count('/v1/resolve') - 1);
    expect(retried.retries).toBeGreaterThanOrEqual(1);
    expect(counter.retries).toBe(retried.retries);

    // A call that gives up carries its retries too, and they add to the same counter.
    counting.reset();
    target = empty.url;
    const error = await failure(login({ router: counting.url, service: 'lobby', version: '1.5.0', terminal: 't-13', retries: 2, backoffMs: 10, counter, onRetry }));
    expect(error.code).toBe('no_policy');
    expect(error.retries).toBe(2);
    expect(counting.count('/v1/login')).toBe(3);
    expect(counter.retries).toBe(retried.retries + 2);
    expect(reasons).toHaveLength(counter.retries);
    expect(reasons.every((r) => /^\d+:no_policy$/.test(r))).toBe(true);
    expect(reasons.slice(-2)).toEqual(['1:no_policy', '2:no_policy']);
  });

  it('nothing listening: retries with backoff, then router_unreachable, in bounded time', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await failure(login({ router: `http://127.0.0.1:${port}`, service: 'lobby', version: '1.5.0', terminal: 't-11', retries: 3, backoffMs: 100 }));
    const elapsed = Date.now() - started;
    expect(error.code).toBe('router_unreachable');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    // Backoff 100, 200, 400 ms, each ×0.5..1.5: at least 350 ms, at most ~1050 ms plus the refused connects.
    expect(elapsed).toBeGreaterThanOrEqual(340);
    expect(elapsed).toBeLessThan(3000);
  });

  it('connections that are reset count as unreachable: every attempt is made, no more', async () => {
    const server = await rawServer('reset');
    const error = await failure(resolve({ router: server.url, service: 'lobby', version: '1.5.0', retries: 2, backoffMs: 10 }));
    expect(error.code).toBe('router_unreachable');
    expect(server.connections()).toBe(3);
    expect(error.retries).toBe(2);
  });

  it('a router that never answers is cut off by the per-attempt timeout', async () => {
    const server = await rawServer('silent');
    const started = Date.now();
    const error = await failure(login({ router: server.url, service: 'lobby', version: '1.5.0', terminal: 't-12', timeoutMs: 300, retries: 1, backoffMs: 10 }));
    const elapsed = Date.now() - started;
    expect(error.code).toBe('router_unreachable');
    expect(server.connections()).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(3000);
  });
});
