import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardError } from '../../src/core/errors.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { failure } from '../helpers/config-project.js';
import { freePort } from '../helpers/free-port.js';
import { fleet } from '../helpers/policy-builder.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';

// The Redis policy store against a real redis-server: CAS, conflicts, the write-once history, fencing, outages.
const available = redisServerAvailable();

describe.skipIf(!available)('Redis policy store', () => {
  let redis: RedisServer;
  let raw: Redis;
  let n = 0;
  const stores: RedisStore[] = [];
  const open = (prefix = `t${(n += 1)}`, timeoutMs?: number) => {
    const store = new RedisStore({ url: redis.url, prefix, ...(timeoutMs ? { timeoutMs } : {}) });
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
    await raw.connect();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    raw?.disconnect();
    await redis?.stop();
  });

  it('creates generation 0 once, then reads it', async () => {
    const store = open();
    expect(await store.exists()).toBe(false);
    await expect(store.read()).rejects.toMatchObject({ code: 'policy_missing', kind: 'usage' });
    expect(await store.init()).toEqual({ created: true });
    expect(await open(store.keys.head.split(':')[0]).init()).toEqual({ created: false });
    expect((await store.read()).generation).toBe(0);
    expect(store.location).toBe(`${redis.url} (keys ${store.keys.head.split(':')[0]}:*)`);
  });

  it('writes generation by generation and refuses a stale one with a conflict (exit 4)', async () => {
    const store = open();
    await store.init();
    const one = await store.write(fleet(), 0);
    expect(one.generation).toBe(1);
    expect((await store.read()).services.lobby?.target).toBe('1.5.0');
    const error = await failure(store.write(fleet(), 0));
    expect(error).toMatchObject({ code: 'policy_conflict', exitCode: 4, details: { expected: 0, found: 1 } });
    expect((await store.read()).generation).toBe(1);
    await store.update((p) => ({ ...p, services: {} }));
    expect((await store.history()).map((e) => e.generation)).toEqual([0, 1, 2]);
    expect((await store.revision(1)).services.lobby?.target).toBe('1.5.0');
    await expect(store.revision(9)).rejects.toMatchObject({ code: 'revision_missing' });
  });

  it('publishes each new generation on the channel', async () => {
    const store = open();
    await store.init();
    const sub = new Redis(redis.port, '127.0.0.1');
    const heard: string[] = [];
    sub.on('message', (_channel, message: string) => heard.push(message));
    await sub.subscribe(store.keys.channel);
    await store.write(fleet(), 0);
    await store.write(fleet(), 1);
    const deadline = Date.now() + 5000;
    while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    sub.disconnect();
    expect(heard).toEqual(['1', '2']);
  });

  it('never rewrites a revision: a taken key is refused and the head stays', async () => {
    const store = open();
    await store.init();
    await raw.set(store.keys.revision(1), 'planted by hand');
    const error = await failure(store.write(fleet(), 0));
    expect(error).toMatchObject({ code: 'revision_taken', exitCode: 1 });
    expect(await raw.get(store.keys.revision(1))).toBe('planted by hand');
    expect(await raw.get(store.keys.head)).toBe('0');
    expect((await store.history()).map((e) => e.generation)).toEqual([0]);
  });

  it('refuses a commit fenced by an older lease number', async () => {
    const store = open();
    await store.init();
    await raw.set(store.keys.fence, '7');
    await expect(store.write(fleet(), 0, { fence: 6 })).rejects.toMatchObject({ code: 'lease_fenced', exitCode: 4 });
    expect((await store.read()).generation).toBe(0);
    expect((await store.write(fleet(), 0, { fence: 7 })).generation).toBe(1);
    expect((await store.write(fleet(), 1)).generation).toBe(2);
  });

  it('lets exactly one of many concurrent writers win each generation', async () => {
    const prefix = `race${n}`;
    const first = open(prefix);
    await first.init();
    const writers = Array.from({ length: 8 }, () => open(prefix));
    const results = await Promise.allSettled(writers.map((w) => w.write(fleet(), 0)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(losers.every((r) => (r.reason as SwitchyardError).code === 'policy_conflict')).toBe(true);
    const updates = await Promise.all(writers.map((w, i) => w.update((p) => ({ ...p, services: { ...p.services } }), { retries: 50 }).then(() => i)));
    expect(updates).toHaveLength(8);
    expect((await first.history()).map((e) => e.generation)).toEqual([...Array(10).keys()]);
  });

  it('fails within a few seconds, naming Redis and the URL without its password, when nothing answers', async () => {
    const port = await freePort();
    const store = new RedisStore({ url: `redis://ops:hunter2@127.0.0.1:${port}/0`, prefix: 'x' });
    stores.push(store);
    const started = Date.now();
    const error = await failure(store.write(fleet(), 0));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toMatchObject({ code: 'redis_unavailable', exitCode: 1 });
    expect(error.message).toContain(`Redis at redis://ops:***@127.0.0.1:${port}/0 is unavailable for the commit`);
    expect(error.message).toContain('Nothing was written');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('hunter2');
  });
});
