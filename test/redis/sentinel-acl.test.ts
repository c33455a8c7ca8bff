import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { failure } from '../helpers/config-project.js';
import { redisServerAvailable, startRedis, startSentinel, type RedisServer } from '../helpers/redis-server.js';
import { twoVersions } from '../helpers/store-project.js';
import { startRouter, stopAllRouters } from '../helpers/router-process.js';
import { cliHeaders } from '../helpers/signed.js';

// The URL forms passed through to Redis: an ACL user in the URL, and a Sentinel URL naming the master.
const available = redisServerAvailable();

describe.skipIf(!available)('Redis URLs passed through', () => {
  let master: RedisServer;
  let sentinel: RedisServer;
  const stores: RedisStore[] = [];

  beforeAll(async () => {
    master = await startRedis();
    sentinel = await startSentinel(master);
    const admin = new Redis(master.port, '127.0.0.1');
    // A user that may touch only its own prefix and channel.
    // The command list docs/several-routers.md gives.
    await admin.call('ACL', 'SETUSER', 'ops', 'on', '>s3cret-pw', '~acl:*', '&acl:*', '+get', '+mget', '+set', '+eval', '+publish', '+subscribe', '+info',
      '+pttl', '+pexpire', '+incr', '+del', '+sadd', '+srem', '+smembers', '+multi', '+exec');
    admin.disconnect();
  }, 30_000);
  afterAll(async () => {
    await stopAllRouters();
    for (const store of stores) await store.close();
    await sentinel?.stop();
    await master?.stop();
  });

  it('authenticates as the ACL user in the URL, and refuses a wrong password without printing it (exit 1)', async () => {
    const good = new RedisStore({ url: `redis://ops:s3cret-pw@127.0.0.1:${master.port}/0`, prefix: 'acl' });
    const bad = new RedisStore({ url: `redis://ops:wrong-pw@127.0.0.1:${master.port}/0`, prefix: 'acl' });
    const outside = new RedisStore({ url: `redis://ops:s3cret-pw@127.0.0.1:${master.port}/0`, prefix: 'other' });
    stores.push(good, bad, outside);
    await good.init();
    expect((await good.write(twoVersions('1.5.0'), 0)).generation).toBe(1);
    const error = await failure(bad.read());
    expect(error).toMatchObject({ exitCode: 1, code: 'redis_unavailable' });
    expect(error.message).toContain(`redis://ops:***@127.0.0.1:${master.port}/0`);
    expect(error.message).not.toContain('wrong-pw');
    // The ACL keeps the user to its prefix: Redis's refusal is reported, not hidden.
    const refused = await failure(outside.init());
    expect(refused).toMatchObject({ exitCode: 1, code: 'redis_refused' });
    expect(refused.message).toContain('NOPERM');
  });

  it('a router as the ACL user takes the lease, shares heartbeats and lists itself', async () => {
    const url = `redis://ops:s3cret-pw@127.0.0.1:${master.port}/0`;
    const router = await startRouter({ policy: null, expectHealthy: true, extraYaml: `coordination: { redis: "${url}", prefix: acl }\n` });
    const deadline = Date.now() + 10_000;
    let status: any;
    do {
      status = await (await fetch(`${router.url}/v1/status`, { headers: cliHeaders(router.token) })).json();
      if (status.routers?.[0]?.leader === true) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    expect(status.routers).toEqual([expect.objectContaining({ url: router.url, leader: true })]);
    expect(status.coordination).toMatchObject({ ok: true, redis: `redis://ops:***@127.0.0.1:${master.port}/0` });
    expect(router.stderr()).not.toContain('s3cret-pw');
    expect(router.stderr()).not.toMatch(/NOPERM/);
  });

  it('finds the master through a Sentinel URL', async () => {
    const store = new RedisStore({ url: sentinel.url, prefix: 'sentinel' });
    stores.push(store);
    expect(await store.init()).toEqual({ created: true });
    expect((await store.write(twoVersions('1.4.0'), 0)).generation).toBe(1);
    const direct = new RedisStore({ url: master.url, prefix: 'sentinel' });
    stores.push(direct);
    expect((await direct.read()).services.lobby?.target).toBe('1.4.0');
    expect(store.location).toBe(`${sentinel.url} (keys sentinel:*)`);
  });
});
