import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../src/core/policy-schema.js';
import { PolicyStore } from '../../src/store/policy-store.js';

const T0 = new Date('2026-11-25T10:00:00.000Z');
const T1 = new Date('2026-11-25T11:00:00.000Z');

let work: string;
let n = 0;
/** A store in a fresh state folder; `now` is pinned unless the test moves it. */
function freshStore(clock: { now: Date } = { now: T0 }): PolicyStore {
  return new PolicyStore(join(work, `state-${(n += 1)}`), { now: () => clock.now });
}

function withLobby(policy: Policy, port = 7501): Policy {
  return {
    ...policy,
    services: {
      lobby: {
        target: '1.5.0',
        canary: null,
        match: 'exact',
        login: 'force',
        processes: [{ id: 'lobby@1.5.0#0', version: '1.5.0', host: 'local', address: '127.0.0.1', port, state: 'active' }],
      },
    },
  };
}

async function failure(promise: Promise<unknown>): Promise<{ kind: string; code: string; message: string; details: Record<string, unknown> }> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err as never,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchyard-store-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('PolicyStore.init', () => {
  it('creates the folder, an empty policy at generation 0 and history/0.json, once', async () => {
    const store = freshStore();
    expect(await store.exists()).toBe(false);
    expect(await store.init()).toEqual({ created: true });
    expect(await store.read()).toEqual({ schema: 1, generation: 0, updatedAt: T0.toISOString(), services: {} });
    expect(await store.revision(0)).toEqual(await store.read());
    expect(await store.init()).toEqual({ created: false });
    expect(store.path).toBe(join(store.stateDir, 'policy.json'));
    expect(store.historyDir).toBe(join(store.stateDir, 'history'));
  });
});

describe('PolicyStore.read errors', () => {
  it('missing: policy_missing, usage, naming the path and init', async () => {
    const store = freshStore();
    const err = await failure(store.read());
    expect(err).toMatchObject({ kind: 'usage', code: 'policy_missing', details: { path: store.path } });
    expect(err.message).toContain(store.path);
    expect(err.message).toContain('switchyard init');
  });

  it('not JSON: policy_invalid with the path and the parser reason', async () => {
    const store = freshStore();
    await store.init();
    await writeFile(store.path, '{"schema": 1, "generation": ');
    const err = await failure(store.read());
    expect(err).toMatchObject({ kind: 'usage', code: 'policy_invalid', details: { path: store.path } });
    expect(err.message).toMatch(new RegExp(`^${store.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON: `));
    expect(err.details.problems).toHaveLength(1);
  });

  it('schema problems: policy_invalid listing path: message', async () => {
    const store = freshStore();
    await store.init();
    const bad = withLobby(await store.read(), 70_000);
    await writeFile(store.path, JSON.stringify(bad));
    const err = await failure(store.read());
    expect(err).toMatchObject({ kind: 'usage', code: 'policy_invalid', details: { path: store.path } });
    expect(err.message).toContain(`${store.path} is not a valid policy: services.lobby.processes.0.port: `);
    expect(err.details.problems).toEqual([expect.objectContaining({ path: 'services.lobby.processes.0.port' })]);
  });

  it('accepts a hand-written file that leaves optional fields out, byte-order mark and all', async () => {
    const store = freshStore();
    await store.init();
    await writeFile(store.path, '\uFEFF{"schema":1,"generation":3,"services":{"lobby":{}}}');
    expect((await store.read()).services.lobby).toEqual({ target: null, canary: null, match: 'exact', login: 'force', processes: [] });
  });
});

describe('PolicyStore.write', () => {
  it('bumps the generation, stamps updatedAt, writes history first and pretty JSON', async () => {
    const clock = { now: T0 };
    const store = freshStore(clock);
    await store.init();
    clock.now = T1;
    const written = await store.write(withLobby(await store.read()), 0);
    expect(written.generation).toBe(1);
    expect(written.updatedAt).toBe(T1.toISOString());
    expect(await store.read()).toEqual(written);
    const text = await readFile(store.path, 'utf8');
    expect(text).toBe(`${JSON.stringify(written, null, 2)}\n`);
    expect(await readFile(join(store.historyDir, '1.json'), 'utf8')).toBe(text);
    expect((await readdir(store.stateDir)).sort()).toEqual(['history', 'policy.json']);
  });

  it('refuses a stale generation with a conflict and leaves the file alone', async () => {
    const store = freshStore();
    await store.init();
    await store.write(withLobby(await store.read()), 0);
    const before = await readFile(store.path, 'utf8');
    const err = await failure(store.write(withLobby(await store.read(), 7600), 0));
    expect(err).toMatchObject({ kind: 'conflict', code: 'policy_conflict', details: { expected: 0, found: 1 } });
    expect(err.message).toBe('The policy changed under you (expected generation 0, found 1): run the command again.');
    expect(await readFile(store.path, 'utf8')).toBe(before);
    expect((await store.history()).map((h) => h.generation)).toEqual([0, 1]);
  });

  it('refuses to write an invalid policy', async () => {
    const store = freshStore();
    await store.init();
    const err = await failure(store.write(withLobby(await store.read(), 0), 0));
    expect(err).toMatchObject({ kind: 'usage', code: 'policy_invalid' });
    expect(err.details.problems).toEqual([expect.objectContaining({ path: 'services.lobby.processes.0.port' })]);
    expect((await store.read()).generation).toBe(0);
  });

  it('refuses to write over a policy file that is broken', async () => {
    const store = freshStore();
    await store.init();
    await writeFile(store.path, 'not json');
    await expect(store.write(withLobby({ schema: 1, generation: 0, services: {} }), 0)).rejects.toMatchObject({ code: 'policy_invalid' });
    expect(await readFile(store.path, 'utf8')).toBe('not json');
  });

  it('refuses to write when there is no policy yet', async () => {
    const store = freshStore();
    await expect(store.write({ schema: 1, generation: 0, services: {} }, 0)).rejects.toMatchObject({ code: 'policy_missing' });
  });
});

describe('PolicyStore.update', () => {
  it('re-reads and re-applies after a conflict', async () => {
    const store = freshStore();
    await store.init();
    const other = new PolicyStore(store.stateDir);
    let calls = 0;
    const retried: number[] = [];
    const result = await store.update(
      async (current) => {
        calls += 1;
        // The first time, someone else writes between our read and our write.
        if (calls === 1) await other.write(withLobby(current, 7000), current.generation);
        const lobby = current.services.lobby;
        return lobby === undefined ? current : withLobby(current, lobby.processes[0]!.port + 1);
      },
      { onRetry: (_err, attempt) => retried.push(attempt) },
    );
    expect(calls).toBe(2);
    expect(retried).toEqual([1]);
    expect(result.generation).toBe(2);
    expect(result.services.lobby?.processes[0]?.port).toBe(7001);
  });

  it('gives up after its retries with the conflict', async () => {
    const store = freshStore();
    await store.init();
    const other = new PolicyStore(store.stateDir);
    let calls = 0;
    const err = await failure(
      store.update(
        async (current) => {
          calls += 1;
          await other.write(current, current.generation); // always beaten
          return current;
        },
        { retries: 2 },
      ),
    );
    expect(err).toMatchObject({ kind: 'conflict', code: 'policy_conflict' });
    expect(calls).toBe(3);
  });

  it('hands fn a copy, so a mutating fn cannot spoil a retry', async () => {
    const store = freshStore();
    await store.init();
    const result = await store.update((current) => {
      current.services.chat = { target: null, canary: null, match: 'minor', login: 'allow', processes: [] };
      return current;
    });
    expect(Object.keys(result.services)).toEqual(['chat']);
  });
});

describe('PolicyStore history and revisions', () => {
  it('lists revisions in generation order, flags broken files and skips others', async () => {
    const clock = { now: T0 };
    const store = freshStore(clock);
    await store.init();
    for (let i = 0; i < 10; i += 1) {
      clock.now = new Date(T0.getTime() + (i + 1) * 1000);
      await store.update((p) => withLobby(p, 7000 + i));
    }
    await writeFile(join(store.historyDir, '99.json'), '{');
    await writeFile(join(store.historyDir, '.11.json.1.ab.tmp'), '{');
    await writeFile(join(store.historyDir, 'README'), 'not a revision');
    const history = await store.history();
    expect(history.map((h) => h.generation)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99]);
    expect(history[10]).toEqual({ generation: 10, updatedAt: new Date(T0.getTime() + 10_000).toISOString() });
    expect(history[11]).toMatchObject({ generation: 99, updatedAt: undefined, broken: expect.stringContaining('not valid JSON') });
    expect((await store.revision(3)).services.lobby?.processes[0]?.port).toBe(7002);
  });

  it('revision: clear errors for a missing, broken or impossible generation', async () => {
    const store = freshStore();
    await store.init();
    await expect(store.revision(5)).rejects.toMatchObject({ kind: 'usage', code: 'revision_missing', details: { generation: 5 } });
    await expect(store.revision(-1)).rejects.toMatchObject({ code: 'invalid_generation' });
    await expect(store.revision(1.5)).rejects.toMatchObject({ code: 'invalid_generation' });
    await mkdir(store.historyDir, { recursive: true });
    await writeFile(join(store.historyDir, '4.json'), JSON.stringify({ schema: 1, generation: 3, services: {} }));
    await expect(store.revision(4)).rejects.toMatchObject({ code: 'policy_invalid' });
    expect((await store.history()).find((h) => h.generation === 4)?.broken).toBe('it holds generation 3');
  });

  it('an empty history folder, or none, lists nothing', async () => {
    expect(await freshStore().history()).toEqual([]);
  });
});

describe('PolicyStore write speed', () => {
  it('writes in a few milliseconds, fsyncs included', async () => {
    const store = freshStore();
    await store.init();
    const rounds = 50;
    const started = performance.now();
    for (let i = 0; i < rounds; i += 1) await store.update((p) => withLobby(p, 7000 + i));
    const each = (performance.now() - started) / rounds;
    console.log(`policy store: ${rounds} updates, ${each.toFixed(2)} ms each (read, history commit, publish; fsynced)`);
    expect(each).toBeLessThan(50);
  });
});
