import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Policy } from '../../src/core/policy-schema.js';
import { movePolicyToRedis } from '../../src/store/move-to-redis.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { tempDir } from '../helpers/cli.js';
import { failure } from '../helpers/config-project.js';
import { redisServerAvailable, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { twoVersions } from '../helpers/store-project.js';

// Moving a file policy with its history into Redis (store/move-to-redis.ts), against a real redis-server.
const available = redisServerAvailable();

describe.skipIf(!available)('a file policy moved into Redis', () => {
  let redis: RedisServer;
  let n = 0;
  const stores: RedisStore[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const open = (prefix = `move${(n += 1)}`) => {
    const store = new RedisStore({ url: redis.url, prefix });
    stores.push(store);
    return store;
  };

  /** A file state with generations 0…`writes` in its history. */
  async function fileState(writes: number, target = '1.4.0'): Promise<{ stateDir: string; files: PolicyStore }> {
    const { dir, cleanup } = await tempDir('sy-move-');
    cleanups.push(cleanup);
    const files = new PolicyStore(join(dir, '.switchyard'));
    await files.init();
    for (let g = 1; g <= writes; g += 1) await files.write({ ...twoVersions(g % 2 === 0 ? '1.5.0' : target, g - 1) } as Policy, g - 1);
    return { stateDir: join(dir, '.switchyard'), files };
  }

  const historyText = (stateDir: string, g: number) => readFile(join(stateDir, 'history', `${g}.json`), 'utf8');

  beforeAll(async () => {
    redis = await startRedis();
  });
  beforeEach(() => {
    n += 1;
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const c of cleanups) await c();
    await redis?.stop();
  });

  it('moves the head and every revision: same generations, same text; a broken revision is named and skipped', async () => {
    const { stateDir, files } = await fileState(5);
    await writeFile(join(stateDir, 'history', '2.json'), '{ not json');
    const store = open();
    const moved = await movePolicyToRedis(stateDir, store);
    expect(moved).toMatchObject({ kind: 'moved', generation: 5, revisions: 5, skipped: [{ generation: 2, reason: expect.stringContaining('not valid JSON') }] });
    expect(await store.read()).toEqual(await files.read());
    for (const g of [0, 1, 3, 4, 5]) expect(await store.revisionText(g)).toBe(await historyText(stateDir, g));
    expect((await store.history()).find((e) => e.generation === 2)?.broken).toMatch(/missing/);
    // A commit goes on from the moved head.
    expect((await store.write(twoVersions('1.4.0'), 5)).generation).toBe(6);
  });

  it('a second move is told it is the same; after Redis moved on, that it was moved before; another policy is refused (exit 2)', async () => {
    const { stateDir } = await fileState(3);
    const store = open();
    expect((await movePolicyToRedis(stateDir, store)).kind).toBe('moved');
    expect(await movePolicyToRedis(stateDir, store)).toEqual({ kind: 'same', generation: 3 });
    await store.write(twoVersions('1.5.0'), 3);
    expect(await movePolicyToRedis(stateDir, store)).toEqual({ kind: 'moved_before', generation: 3, redisGeneration: 4 });

    const other = await fileState(3, '1.5.0');
    const refused = await failure(movePolicyToRedis(other.stateDir, store));
    expect(refused).toMatchObject({ code: 'redis_policy_differs', exitCode: 2 });
    expect(refused.message).toContain('generation 4');
    expect(refused.message).toMatch(/redis-cli --scan --pattern 'move\d+:policy:\*'/);
    expect((await store.read()).generation).toBe(4);
  });

  it('of racing moves one writes, the others find the same policy, and the history is whole', async () => {
    const { stateDir, files } = await fileState(70);
    const prefix = `race${n}`;
    const outcomes = await Promise.all([1, 2, 3, 4].map(() => movePolicyToRedis(stateDir, open(prefix))));
    expect(outcomes.filter((o) => o.kind === 'moved')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'same')).toHaveLength(3);
    const store = open(prefix);
    expect(await store.read()).toEqual(await files.read());
    expect((await store.history()).filter((e) => e.broken !== undefined)).toEqual([]);
    for (const g of [0, 35, 63, 64, 70]) expect(await store.revisionText(g)).toBe(await historyText(stateDir, g));
  });

  it('a move cut short leaves no policy that looks valid, and the next one finishes it', async () => {
    const { stateDir } = await fileState(3);
    const store = open();
    // As a move killed after its revisions and before its head.
    await store.importRevisions(await Promise.all([0, 1].map(async (generation) => ({ generation, text: await historyText(stateDir, generation) }))));
    expect(await store.exists()).toBe(false);
    await expect(store.read()).rejects.toMatchObject({ code: 'policy_missing' });
    expect(await movePolicyToRedis(stateDir, store)).toMatchObject({ kind: 'moved', generation: 3 });
  });

  it('keys of another state under the prefix stop the move before any head is written', async () => {
    const { stateDir } = await fileState(3);
    const store = open();
    await store.importRevisions([{ generation: 1, text: 'another state\'s revision\n' }]);
    expect(await failure(movePolicyToRedis(stateDir, store))).toMatchObject({ code: 'redis_leftover_keys', exitCode: 1 });
    expect(await store.exists()).toBe(false);
    expect((await store.revisionText(0).catch(() => 'none'))).toBe('none');
  });
});
