import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisPolicySource } from '../../src/router/redis-policy-source.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { twoVersions } from '../helpers/store-project.js';

// The router's Redis policy source on its own, against a real redis-server.
const available = redisServerAvailable();

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!available)('RedisPolicySource', () => {
  let redis: RedisServer;
  let raw: Redis;
  const closers: Array<() => unknown> = [];

  beforeAll(async () => {
    redis = await startRedis();
    raw = new Redis(redis.port, '127.0.0.1');
  });
  afterAll(async () => {
    for (const close of closers) await close();
    raw?.disconnect();
    await redis?.stop();
  });

  function open(prefix: string) {
    const errors: string[] = [];
    const loads: number[] = [];
    const source = new RedisPolicySource({ url: redis.url, prefix, pollMs: 60_000, onError: (m) => errors.push(m), onLoad: (p) => loads.push(p.generation) });
    const store = new RedisStore({ url: redis.url, prefix });
    closers.push(() => source.stop(), () => store.close());
    return { source, store, errors, loads };
  }

  it('reports a missing policy, then loads the first one through pub/sub (the periodic check is a minute away)', async () => {
    const { source, store, errors, loads } = open('src-a');
    await source.start();
    expect(source.current()).toBeUndefined();
    expect(source.fileState()).toMatchObject({ generation: null, fileBroken: true });
    expect(errors[0]).toContain('no policy in Redis at');
    await store.init();
    await store.write(twoVersions('1.5.0'), 0);
    await until(() => source.current()?.generation === 1, 'generation 1');
    expect(source.fileState()).toMatchObject({ generation: 1, fileBroken: false, error: null });
    expect(loads.at(-1)).toBe(1);
  });

  it('serves the store\'s head when it went back, and raises the alarm until an acknowledgement covers it', async () => {
    const { source, store } = open('src-b');
    await store.init();
    await store.write(twoVersions('1.5.0'), 0);
    await source.start();
    expect(source.current()?.generation).toBe(1);
    // As if Redis came back from an older backup: the routers serve what the store holds, never a lost revision.
    await raw.set(store.keys.head, '0');
    await source.check();
    expect(source.current()?.generation).toBe(0);
    expect(source.regression?.()).toMatchObject({ head: 0, highest: 1 });
    // A new generation 1 with other content than the lost one: still an alarm.
    await raw.del(store.keys.revision(1));
    await store.write({ ...twoVersions('1.4.0'), generation: 1 }, 0);
    await source.check();
    expect(source.current()?.services.lobby?.target).toBe('1.4.0');
    expect(source.regression?.()).toBeDefined();
    // An operator's acknowledgement (`status --prune --yes`) through generation 1 clears it.
    const acknowledged = { ...(await store.read()), acknowledged: { through: 1, at: new Date().toISOString() } };
    await store.write(acknowledged, 1);
    await source.check();
    expect(source.current()?.generation).toBe(2);
    expect(source.regression?.()).toBeUndefined();
  });
});
