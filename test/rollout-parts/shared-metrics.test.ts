import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/coordination/keys.js';
import { openRedisLink, type RedisLink } from '../../src/coordination/redis-client.js';
import { SharedMetrics } from '../../src/coordination/shared-metrics.js';
import { RequestMetrics } from '../../src/router/request-metrics.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';

// Request counts shared by several routers through a real redis-server: the leader's take()
// sums every router's interval; restarts, stopped routers and a Redis outage lose nothing and count nothing twice.
const available = redisServerAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)('shared request metrics on Redis', () => {
  let redis: RedisServer;
  const links: RedisLink[] = [];
  const shared: SharedMetrics[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const s of shared) await s.stop();
    for (const l of links) l.close();
    await redis?.stop();
  });

  /** A router's counts and its shared record. */
  async function router(prefix: string, id: string, ttlMs = 3000) {
    const link = await openRedisLink(redis.url, 1000);
    links.push(link);
    const local = new RequestMetrics();
    const metrics = new SharedMetrics({ redis: link.redis, keys: redisKeys(prefix), routerId: id, local, flushMs: 100, ttlMs });
    shared.push(metrics);
    metrics.start();
    const serve = (n: number, status: number, ms = 10, version = '1.6.0') => {
      for (let i = 0; i < n; i += 1) local.response('lobby', version, status, ms);
    };
    return { local, metrics, serve, link };
  }

  it('the leader judges fleet-wide figures: every router\'s interval, summed, p99 over all', async () => {
    const a = await router('sum', 'a:7400');
    const b = await router('sum', 'b:7400');
    a.serve(25, 200);
    a.serve(5, 503);
    b.serve(19, 200, 10);
    b.serve(1, 200, 900);
    b.local.upstreamError('lobby', '1.6.0', 2);
    b.local.reported('lobby', '1.6.0', 40, 2);
    await b.metrics.flush();
    const first = await a.metrics.take('lobby', '1.6.0');
    expect(first).toMatchObject({ requests: 91, errors: 8 });
    // 1 of 51 timed answers took 900 ms: p99 lands in its bucket (800–1000 ms).
    expect((first as { p99Ms: number }).p99Ms).toBeGreaterThan(800);
    expect(await a.metrics.take('lobby', '1.6.0')).toEqual({ requests: 0, errors: 0 });

    b.serve(10, 200);
    await b.metrics.flush();
    expect(await a.metrics.take('lobby', '1.6.0')).toMatchObject({ requests: 10, errors: 0 });
    // Other versions are their own windows.
    a.serve(3, 200, 5, '1.5.0');
    expect(await a.metrics.take('lobby', '1.5.0')).toMatchObject({ requests: 3 });
  });

  it('a restarted router counts from zero as a new source; a stopped one adds nothing once its record expires', async () => {
    const a = await router('restart', 'a:7400');
    const b = await router('restart', 'b:7400', 400);
    b.serve(50, 200);
    await b.metrics.flush();
    expect(await a.metrics.take('lobby', '1.6.0')).toMatchObject({ requests: 50 });

    // b restarts: a new instance with fresh counters, under the same router id.
    await b.metrics.stop();
    const b2 = await router('restart', 'b:7400', 400);
    b2.serve(4, 500);
    await b2.metrics.flush();
    expect(await a.metrics.take('lobby', '1.6.0')).toMatchObject({ requests: 4, errors: 4 });

    // b2 stops for good: its record expires and leaves the set; nothing goes negative.
    await b2.metrics.stop();
    await sleep(600);
    expect(await a.metrics.take('lobby', '1.6.0')).toEqual({ requests: 0, errors: 0 });
    expect(await a.link.redis.smembers(redisKeys('restart').metricsRouters)).toEqual(['a:7400']);
  });

  it('while Redis is away take() is unreachable; afterwards the next take covers the whole gap', async () => {
    const a = await router('outage', 'a:7400');
    const b = await router('outage', 'b:7400', 60_000);
    b.serve(10, 200);
    await b.metrics.flush();
    expect(await a.metrics.take('lobby', '1.6.0')).toMatchObject({ requests: 10 });

    b.serve(7, 200);
    await b.metrics.flush();
    await redis.kill('SIGKILL');
    a.serve(3, 503);
    const during = await a.metrics.take('lobby', '1.6.0');
    expect(during).toMatchObject({ unreachable: expect.stringContaining("the routers' request counts could not be read from Redis") });
    await redis.restart();
    // Both links reconnect in the background.
    for (let i = 0; i < 50 && (a.link.lastError() !== undefined || b.link.lastError() !== undefined); i += 1) await sleep(100);
    await b.metrics.flush();
    expect(await a.metrics.take('lobby', '1.6.0')).toMatchObject({ requests: 10, errors: 3 });
  }, 30_000);
});
