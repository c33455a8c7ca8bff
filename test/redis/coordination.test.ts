import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/coordination/keys.js';
import { LeaderLease } from '../../src/coordination/leader-lease.js';
import { openRedisLink, type RedisLink } from '../../src/coordination/redis-client.js';
import { RouterRegistry } from '../../src/coordination/router-registry.js';
import { SharedTally } from '../../src/coordination/shared-tally.js';
import { TallyBook } from '../../src/core/tally.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { twoVersions } from '../helpers/store-project.js';

// The coordination pieces on a real redis-server, in process: the lease and its fencing
// token against the commit script, the shared tally's exact sums, and the router registry.
const available = redisServerAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)('coordination on Redis', () => {
  let redis: RedisServer;
  const links: RedisLink[] = [];
  const link = async () => {
    const made = await openRedisLink(redis.url, 1000);
    links.push(made);
    return made;
  };

  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const l of links) l.close();
    await redis?.stop();
  });

  it('one lease holder at a time; a lapsed leader is fenced out of the policy', async () => {
    const prefix = `lease-${process.pid}`;
    const keys = redisKeys(prefix);
    const store = new RedisStore({ url: redis.url, prefix });
    await store.init();
    const changes: string[] = [];
    const make = async (name: string) => {
      const lease = new LeaderLease({ redis: (await link()).redis, keys, routerId: name, ownerId: `router-${name}`, leaseMs: 400, now: () => performance.now(), log: () => undefined, onChange: (leader) => changes.push(`${name}:${leader}`) });
      return lease;
    };
    const a = await make('a');
    const b = await make('b');
    await a.attempt();
    await b.attempt();
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(b.holder()).toMatchObject({ routerId: 'a', ownerId: 'router-a', fence: a.fence() });
    // Renewals keep the token.
    const token = a.fence()!;
    await a.attempt();
    expect(a.fence()).toBe(token);
    const head = await store.read();
    expect((await store.write(twoVersions('1.5.0'), head.generation, { fence: token })).generation).toBe(head.generation + 1);

    // a stops renewing (a paused process): its lease lapses, b takes a new one with a newer token.
    await sleep(500);
    expect(a.isLeader()).toBe(false);
    await b.attempt();
    expect(b.isLeader()).toBe(true);
    expect(b.fence()).toBe(token + 1);
    // a wakes up: Redis refuses its commit, and it learns it is no longer the leader.
    const now = await store.read();
    await expect(store.write(twoVersions('1.4.0'), now.generation, { fence: token })).rejects.toMatchObject({ code: 'lease_fenced', exitCode: 4 });
    expect((await store.read()).generation).toBe(now.generation);
    await a.attempt();
    expect(a.isLeader()).toBe(false);
    expect(a.holder()?.routerId).toBe('b');
    // Giving the lease up lets the next router take it at once.
    await b.stop();
    await a.attempt();
    expect(a.isLeader()).toBe(true);
    expect(a.fence()).toBe(token + 2);
    expect(changes, changes.join()).toEqual(['a:true', 'a:false', 'b:true', 'b:false', 'a:true']);
    await a.stop();
    await store.close();
  });

  it('three books sharing heartbeats hold the exact fleet-wide sums', async () => {
    const prefix = `tally-${process.pid}`;
    const keys = redisKeys(prefix);
    const ids = Array.from({ length: 300 }, (_, i) => `lobby@1.0.0#${i}.g1`);
    let clock = 0;
    const books = [0, 1, 2].map(() => new TallyBook({ intervalMs: 1000, staleAfter: 3 }));
    for (const book of books) book.setKnown(ids, clock);
    const shares = await Promise.all(books.map(async (book, i) => new SharedTally({
      redis: (await link()).redis, keys, routerId: `r${i}`, tallies: book, windowMs: 3000, flushMs: 1_000_000, readMs: 1_000_000, now: () => clock, lastError: () => undefined,
    })));
    let expected = 0;
    // Each process sends its beats to one router, round robin; two rounds, the second overriding the first.
    for (const round of [1, 2]) {
      for (let i = 0; i < ids.length; i += 1) {
        const terminals = { '1.0.0': (i % 7) + round };
        const hb = { service: 'lobby', version: '1.0.0', process: ids[i]!, seq: round, terminals };
        const router = (i + round) % 3;
        expect(books[router]!.ingest(hb, clock)).toBe('accepted');
        shares[router]!.note(hb, clock);
        if (round === 2) expected += terminals['1.0.0'];
      }
      clock += 1000;
      await Promise.all(shares.map((s) => s.flush()));
      await Promise.all(shares.map((s) => s.read()));
    }
    for (const book of books) expect(book.tally('lobby', clock)).toEqual([{ version: '1.0.0', terminals: expected, share: 1 }]);
    for (const share of shares) expect(share.state()).toMatchObject({ ok: true, buffered: 0, dropped: 0, dataAgeMs: 0 });
    // Reading again changes nothing: a record already counted is not counted twice.
    await Promise.all(shares.map((s) => s.read()));
    for (const book of books) expect(book.tally('lobby', clock)).toEqual([{ version: '1.0.0', terminals: expected, share: 1 }]);
    // A record for an id no policy names (written by hand, or by a router on a newer policy) is never read, never counted.
    await links[0]!.redis.set(keys.heartbeat('lobby@1.0.0#999.g1'), JSON.stringify({ s: 'lobby', v: '1.0.0', q: 1, t: { '1.0.0': 500 }, r: 'elsewhere', a: 0 }), 'PX', 3000);
    await Promise.all(shares.map((s) => s.read()));
    for (const book of books) expect(book.tally('lobby', clock)).toEqual([{ version: '1.0.0', terminals: expected, share: 1 }]);
    // Silence is never zero: past the stale window every book has no fresh process, not an empty one.
    clock += 3500;
    for (const book of books) {
      expect(book.tally('lobby', clock)).toEqual([]);
      expect(book.zeroStreak(ids[0]!, clock)).toBe(0);
      expect(book.processView(ids[0]!, clock).stale).toBe(true);
    }
  });

  it('a heartbeat buffered while Redis cannot take it is written later, unless its window has passed', async () => {
    const prefix = `buffer-${process.pid}`;
    const keys = redisKeys(prefix);
    let clock = 0;
    const book = new TallyBook({ intervalMs: 1000, staleAfter: 3 });
    book.setKnown(['lobby@1.0.0#0.g1', 'lobby@1.0.0#1.g1'], 0);
    const own = await link();
    const share = new SharedTally({ redis: own.redis, keys, routerId: 'r0', tallies: book, windowMs: 3000, flushMs: 1_000_000, readMs: 1_000_000, now: () => clock, lastError: own.lastError });
    share.note({ service: 'lobby', version: '1.0.0', process: 'lobby@1.0.0#0.g1', seq: 1, terminals: { '1.0.0': 2 } }, 0);
    own.redis.disconnect();
    await share.flush();
    expect(share.state()).toMatchObject({ ok: false, buffered: 1 });
    share.note({ service: 'lobby', version: '1.0.0', process: 'lobby@1.0.0#1.g1', seq: 1, terminals: { '1.0.0': 3 } }, 2500);
    while (own.redis.status !== 'end') await sleep(5);
    await own.redis.connect();
    clock = 3200;
    await share.flush();
    expect(share.state()).toMatchObject({ ok: true, buffered: 0, dropped: 1 });
    expect(await own.redis.exists(keys.heartbeat('lobby@1.0.0#0.g1'))).toBe(0);
    const left = await own.redis.pttl(keys.heartbeat('lobby@1.0.0#1.g1'));
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(2300);
  });

  it('the registry lists live routers with the leader marked, and forgets one that stopped renewing', async () => {
    const prefix = `registry-${process.pid}`;
    const keys = redisKeys(prefix);
    const r1 = new RouterRegistry({ redis: (await link()).redis, keys, self: { id: 'h:1', url: 'http://127.0.0.1:1' }, ttlMs: 300, renewMs: 100 });
    const r2 = new RouterRegistry({ redis: (await link()).redis, keys, self: { id: 'h:2', url: 'http://127.0.0.1:2' }, ttlMs: 300, renewMs: 100 });
    await r1.renew();
    await r2.renew();
    const lease = new LeaderLease({ redis: (await link()).redis, keys, routerId: 'h:2', ownerId: 'router-x', leaseMs: 5000, now: () => performance.now(), log: () => undefined, onChange: () => undefined });
    await lease.attempt();
    const listed = await r1.list();
    expect(listed.map((r) => [r.id, r.url, r.leader])).toEqual([['h:1', 'http://127.0.0.1:1', false], ['h:2', 'http://127.0.0.1:2', true]]);
    for (const r of listed) expect(r.ageMs).toBeLessThan(300);
    await sleep(400);
    await r2.renew();
    expect((await r2.list()).map((r) => r.id)).toEqual(['h:2']);
    expect(await (await link()).redis.smembers(keys.routers)).toEqual(['h:2']);
    await lease.stop();
  });
});
