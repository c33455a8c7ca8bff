import { link, mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Policy } from '../../src/core/policy-schema.js';
import { PolicyWatcher, type PolicyFileState } from '../../src/router/policy-watcher.js';
import { PolicyStore } from '../../src/store/policy-store.js';

/**
 * The lockless commit protocol, step by step (src/store/commit.ts,
 * head.ts): the states a killed or slow writer can leave behind are built
 * by hand, and the store's read() and the router's watcher must both find
 * the head, refuse a policy.json older than the history and a symlinked
 * one, and the next write must go on without repair.
 */

let work: string;
let n = 0;
const watchers: PolicyWatcher[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchyard-protocol-'));
});
afterEach(() => {
  for (const w of watchers.splice(0)) w.stop();
});
afterAll(() => rm(work, { recursive: true, force: true }));

function withPort(policy: Policy, port: number): Policy {
  return {
    ...policy,
    services: {
      lobby: {
        target: '1.0.0',
        canary: null,
        match: 'exact',
        login: 'force',
        processes: [{ id: 'lobby@1.0.0#0', version: '1.0.0', host: 'local', address: '127.0.0.1', port, state: 'active' }],
      },
    },
  };
}

/** A store at generation `generations` (each revision's port is 7000 + its generation). */
async function storeAt(generations: number): Promise<PolicyStore> {
  const store = new PolicyStore(join(work, `state-${(n += 1)}`));
  await store.init();
  for (let g = 1; g <= generations; g += 1) await store.update((p) => withPort(p, 7000 + g));
  return store;
}

const port = (policy: Policy | undefined) => policy?.services.lobby?.processes[0]?.port;

/** A revision's text as a writer would commit it, to place by hand. */
async function revisionText(store: PolicyStore, generation: number, portNumber: number): Promise<string> {
  const base = await store.revision(0);
  return `${JSON.stringify(withPort({ ...base, generation }, portNumber), null, 2)}\n`;
}

/** The router's watcher on this state folder, its log lines collected. */
async function watch(store: PolicyStore): Promise<{ watcher: PolicyWatcher; errors: string[] }> {
  const errors: string[] = [];
  const watcher = new PolicyWatcher(store.path, { pollMs: 50, onError: (m) => errors.push(m) });
  watchers.push(watcher);
  await watcher.start();
  return { watcher, errors };
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((go) => setTimeout(go, 20));
  }
}

describe('commit protocol: the head is rolled forward past policy.json', () => {
  it('a writer killed after its history link and before its publish: read() and the watcher serve the commit, the next write goes on', async () => {
    const store = await storeAt(2);
    // The commit of generation 3 without its publish: history/3.json linked in, policy.json still at 2.
    const temp = join(store.historyDir, '.3.json.1.aa.tmp');
    await writeFile(temp, await revisionText(store, 3, 7303));
    await link(temp, join(store.historyDir, '3.json'));
    await unlink(temp);
    expect(JSON.parse(await readFile(store.path, 'utf8')).generation).toBe(2);

    const head = await store.read();
    expect(head.generation).toBe(3);
    expect(port(head)).toBe(7303);

    const { watcher, errors } = await watch(store);
    expect(watcher.current()?.generation).toBe(3);
    // Left behind for longer than a writer's publish takes, it is reported once, naming what is served.
    const state = await until('the watcher to report policy.json behind', () => (watcher.fileState().error ? watcher.fileState() : undefined));
    expect(state).toMatchObject({ generation: 3, fileBroken: true });
    expect(state.error).toContain(`${store.path} holds generation 2, older than the history: serving generation 3 from ${join(store.historyDir, '3.json')}`);
    expect(errors).toHaveLength(1);

    // A stale writer loses to the commit; the next one builds on it, and republishes.
    await expect(store.write(withPort(head, 7999), 2)).rejects.toMatchObject({ code: 'policy_conflict', details: { expected: 2, found: 3 } });
    const next = await store.update((p) => withPort(p, 7404));
    expect(next.generation).toBe(4);
    expect(JSON.parse(await readFile(store.path, 'utf8')).generation).toBe(4);
    const cleared = await until('the watcher to load generation 4', () => (watcher.fileState().generation === 4 ? watcher.fileState() : undefined));
    expect(cleared).toMatchObject({ fileBroken: false, error: null });
    expect(errors).toHaveLength(1);
  });

  it('a regressed policy.json (a slow writer renamed an older revision over a newer one) still reads as the head', async () => {
    const store = await storeAt(5);
    await writeFile(store.path, await readFile(join(store.historyDir, '3.json'), 'utf8'));
    expect((await store.read()).generation).toBe(5);
    expect(port(await store.read())).toBe(7005);
    const { watcher } = await watch(store);
    expect(watcher.current()?.generation).toBe(5);
    // A writer that reads the head publishes the newest again even when it loses.
    await expect(store.write(await store.read(), 4)).rejects.toMatchObject({ code: 'policy_conflict', details: { found: 5 } });
    expect(JSON.parse(await readFile(store.path, 'utf8')).generation).toBe(5);
  });

  it('a hand-restored policy.json with a lower generation is never served, by the store or the router', async () => {
    const store = await storeAt(4);
    // Someone restores an old file with different content: it must not win over the history.
    await writeFile(store.path, await revisionText(store, 2, 9999));
    const head = await store.read();
    expect(head.generation).toBe(4);
    expect(port(head)).toBe(7004);
    const { watcher, errors } = await watch(store);
    expect(port(watcher.current())).toBe(7004);
    const state = await until('the report', () => (watcher.fileState().error ? watcher.fileState() : undefined));
    expect(state.generation).toBe(4);
    expect(state.error).toMatch(/holds generation 2, older than the history: serving generation 4/);
    // Seen on many periodic checks, reported once.
    await new Promise((go) => setTimeout(go, 300));
    expect(errors).toHaveLength(1);
    expect(port(watcher.current())).toBe(7004);
  });

  it('a hand-written policy.json newer than the history is served, and adopted into the history on the next write', async () => {
    const store = await storeAt(1);
    const handWritten = await revisionText(store, 7, 7777);
    await writeFile(store.path, handWritten);
    expect((await store.read()).generation).toBe(7);
    const { watcher } = await watch(store);
    expect(watcher.current()?.generation).toBe(7);
    expect(watcher.fileState()).toMatchObject({ fileBroken: false, error: null });

    const next = await store.update((p) => withPort(p, 7808));
    expect(next.generation).toBe(8);
    expect(await readFile(join(store.historyDir, '7.json'), 'utf8')).toBe(handWritten);
    expect((await store.history()).map((h) => h.generation)).toEqual([0, 1, 7, 8]);
  });

  it('a policy.json with no history folder at all (written by hand) is served and adopted', async () => {
    const stateDir = join(work, `bare-${(n += 1)}`);
    await mkdir(stateDir);
    const store = new PolicyStore(stateDir);
    await writeFile(store.path, JSON.stringify({ schema: 1, generation: 3, services: {} }));
    const written = await store.update((p) => p);
    expect(written.generation).toBe(4);
    expect((await store.history()).map((h) => h.generation)).toEqual([3, 4]);
  });

  it('history files are written once: a lost commit leaves the winner untouched', async () => {
    const store = await storeAt(1);
    const before = await readFile(join(store.historyDir, '1.json'), 'utf8');
    await expect(store.write(withPort(await store.revision(0), 7111), 0)).rejects.toMatchObject({ code: 'policy_conflict' });
    expect(await readFile(join(store.historyDir, '1.json'), 'utf8')).toBe(before);
    expect((await readdir(store.historyDir)).sort()).toEqual(['0.json', '1.json']);
  });

  it('an init killed between history/0.json and policy.json is served from the history and finished by the next init', async () => {
    const store = await storeAt(0);
    await unlink(store.path);
    expect(await store.exists()).toBe(false);
    expect((await store.read()).generation).toBe(0);
    expect(await store.init()).toEqual({ created: false });
    expect(JSON.parse(await readFile(store.path, 'utf8')).generation).toBe(0);
  });
});

describe('state paths that are not what they should be', () => {
  it('a symlinked policy.json is refused by the store and the router, naming the path and what to do', async () => {
    const store = await storeAt(1);
    const elsewhere = join(work, `secret-${(n += 1)}.json`);
    await writeFile(elsewhere, await readFile(store.path, 'utf8'));
    await unlink(store.path);
    await symlink(elsewhere, store.path);
    const err = await store.read().then(
      () => expect.fail('read() followed the symlink'),
      (e: unknown) => e as { code: string; kind: string; message: string },
    );
    expect(err).toMatchObject({ kind: 'usage', code: 'state_symlink' });
    expect(err.message).toContain(`${store.path} is a symbolic link`);
    expect(err.message).toContain('replace the link with a copy of the file');
    await expect(store.update((p) => p)).rejects.toMatchObject({ code: 'state_symlink' });

    const { watcher } = await watch(store);
    expect(watcher.current()).toBeUndefined();
    expect(watcher.fileState()).toMatchObject({ fileBroken: true, error: expect.stringContaining('is a symbolic link') as unknown });
  });

  it('wrong file types give a SwitchyardError naming the path, never EISDIR', async () => {
    const cases: Array<{ name: string; make: (store: PolicyStore) => Promise<void>; path: (store: PolicyStore) => string; text: RegExp; initLeavesIt?: boolean }> = [
      {
        name: 'policy.json is a folder',
        make: async (s) => {
          await unlink(s.path);
          await mkdir(s.path);
        },
        path: (s) => s.path,
        text: /is a folder, but switchyard keeps a regular file there: move it aside/,
        initLeavesIt: true,
      },
      {
        name: 'history is a file',
        make: async (s) => {
          await rm(s.historyDir, { recursive: true });
          await writeFile(s.historyDir, 'oops');
        },
        path: (s) => s.historyDir,
        text: /is a file, but switchyard keeps a folder there: move it aside/,
      },
      {
        name: 'the next revision is a folder',
        make: (s) => mkdir(join(s.historyDir, '2.json')),
        path: (s) => join(s.historyDir, '2.json'),
        text: /is a folder, but switchyard keeps a regular file there/,
        initLeavesIt: true,
      },
      {
        name: 'the state folder is a file',
        make: async (s) => {
          await rm(s.stateDir, { recursive: true });
          await writeFile(s.stateDir, 'oops');
        },
        path: (s) => s.stateDir,
        text: /is a file, but switchyard keeps a folder there/,
      },
    ];
    for (const c of cases) {
      const store = await storeAt(1);
      await c.make(store);
      const actions = { read: () => store.read(), update: () => store.update((p) => p), init: () => store.init() };
      for (const [name, action] of Object.entries(actions)) {
        const err = await action().then(
          () => undefined,
          (e: unknown) => e as { name: string; code: string; message: string },
        );
        // init() finds something at policy.json and leaves it alone (created: false): read() says what is wrong.
        if (err === undefined && name === 'init' && c.initLeavesIt === true) continue;
        if (err === undefined) expect.fail(`${c.name}: ${name}() succeeded`);
        expect(err.name, `${c.name}: ${err.message}`).toBe('SwitchyardError');
        expect(err.code, c.name).toBe('state_wrong_type');
        expect(err.message, c.name).toContain(c.path(store));
        expect(err.message, c.name).toMatch(c.text);
      }
      const { watcher } = await watch(store);
      expect(watcher.fileState().error, c.name).toContain(c.path(store));
    }
  });
});
