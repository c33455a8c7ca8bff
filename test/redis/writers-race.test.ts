import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.js';
import { ChildTracker, waitExit } from '../helpers/child-processes.js';
import { compileFixture, type CompiledFixture } from '../helpers/compile-fixture.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';

// 8 writer processes race on the Redis store while random ones are SIGKILLed and replaced.
const available = redisServerAvailable();
const WRITERS = 8;
const RUN_MS = 8_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)('writers racing on Redis with SIGKILLs', () => {
  let redis: RedisServer;
  let fixture: CompiledFixture;
  const children = new ChildTracker();

  beforeAll(async () => {
    [redis, fixture] = await Promise.all([startRedis(), compileFixture('test/fixtures/redis-writer.ts')]);
  }, 60_000);
  afterAll(async () => {
    await children.killAll();
    await fixture?.remove();
    await redis?.stop();
  });

  it('gives each confirmed write its own generation, and keeps the history contiguous', async () => {
    const prefix = 'race';
    const store = new RedisStore({ url: redis.url, prefix });
    await store.init();
    const confirmed: Array<{ generation: number; version: string }> = [];
    let spawned = 0;
    const spawnWriter = (): ChildProcess => {
      const child = children.spawn(process.execPath, [fixture.path, redis.url, prefix, String((spawned += 1))], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stderr?.resume();
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = /^ok (\d+) (\S+)$/.exec(line);
        if (m) confirmed.push({ generation: Number(m[1]), version: m[2]! });
      });
      return child;
    };
    const live = Array.from({ length: WRITERS }, spawnWriter);
    let kills = 0;
    const until = Date.now() + RUN_MS;
    while (Date.now() < until) {
      await sleep(150 + Math.random() * 250);
      const victim = Math.floor(Math.random() * live.length);
      const child = live[victim]!;
      const gone = waitExit(child);
      child.kill('SIGKILL');
      await gone;
      kills += 1;
      live[victim] = spawnWriter();
    }
    await children.killAll();

    const head = (await store.read()).generation;
    const history = await store.history();
    const generations = confirmed.map((c) => c.generation);
    console.log(`Redis writers race: ${WRITERS} writers, ${spawned} started, ${kills} SIGKILLed, ${confirmed.length} confirmed writes, head generation ${head}, ${history.length} revisions`);
    expect(confirmed.length).toBeGreaterThan(0);
    expect(new Set(generations).size).toBe(generations.length);
    expect(Math.max(...generations)).toBeLessThanOrEqual(head);
    expect(history.map((e) => e.generation)).toEqual([...Array(head + 1).keys()]);
    expect(history.filter((e) => e.broken !== undefined)).toEqual([]);
    const wrong: string[] = [];
    for (const { generation, version } of confirmed) {
      const revision = await store.revision(generation);
      if (revision.services.svc?.target !== version) wrong.push(`${generation}: ${revision.services.svc?.target} instead of ${version}`);
    }
    expect(wrong).toEqual([]);
    await store.close();
  }, 120_000);
});
