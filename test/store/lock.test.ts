import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock, lockPath, withLock } from '../../src/store/lock.js';
import { guardedRemove } from '../../src/store/lock-file.js';
import { captureStderr, ChildTracker, lineReader, waitExit } from '../helpers/child-processes.js';

const HOLDER = join(import.meta.dirname, '../fixtures/lock-holder.ts');
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

let work: string;
let n = 0;
const children = new ChildTracker();

async function stateDir(): Promise<string> {
  const dir = join(work, `state-${(n += 1)}`);
  await mkdir(dir);
  return dir;
}

/** Writes a lock file as another writer would, optionally backdated. */
async function plantLock(dir: string, contents: string, ageMs = 0): Promise<void> {
  await writeFile(lockPath(dir), contents);
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await utimes(lockPath(dir), then, then);
  }
}

const lockOf = (pid: number, host = hostname()) => JSON.stringify({ pid, hostname: host, acquiredAt: new Date().toISOString(), token: 'theirs' });

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  const run = spawnSync(process.execPath, ['-e', '']);
  return run.pid!;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'switchyard-lock-'));
});
afterEach(() => children.killAll());
afterAll(async () => {
  await children.killAll();
  await rm(work, { recursive: true, force: true });
});

describe('policy lock', () => {
  it('writes {pid, hostname, acquiredAt} and removes the file on release', async () => {
    const dir = await stateDir();
    const lock = await acquireLock(dir);
    const contents = JSON.parse(await readFile(lockPath(dir), 'utf8'));
    expect(contents).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(Date.parse(contents.acquiredAt)).not.toBeNaN();
    await lock.release();
    await lock.release(); // twice is harmless
    await expect(stat(lockPath(dir))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('breaks a lock held by a dead pid at once', async () => {
    const dir = await stateDir();
    await plantLock(dir, lockOf(deadPid()));
    const started = performance.now();
    const lock = await acquireLock(dir, { timeoutMs: 2_000 });
    expect(performance.now() - started).toBeLessThan(200);
    expect(JSON.parse(await readFile(lockPath(dir), 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('blocks while a live process holds the lock, and gets it once released', async () => {
    const dir = await stateDir();
    const holder = children.spawn(process.execPath, ['--import', 'tsx', HOLDER, dir]);
    const stderr = captureStderr(holder);
    const lines = lineReader(holder, stderr);
    expect(await lines.next(15_000)).toBe('locked');

    let acquiredAt = 0;
    const waiting = acquireLock(dir, { timeoutMs: 10_000 }).then((lock) => {
      acquiredAt = performance.now();
      return lock;
    });
    await sleep(300);
    expect(acquiredAt).toBe(0);
    const releasedAt = performance.now();
    holder.stdin!.write('release\n');
    const lock = await waiting;
    expect(acquiredAt).toBeGreaterThanOrEqual(releasedAt);
    expect(await lines.next()).toBe('released');
    expect(await waitExit(holder)).toEqual({ code: 0, signal: null });
    await lock.release();
  });

  it('times out with a conflict naming the lock file and the holder pid', async () => {
    const dir = await stateDir();
    await plantLock(dir, lockOf(process.pid));
    const error = await acquireLock(dir, { timeoutMs: 150 }).catch((err: unknown) => err);
    expect(error).toMatchObject({ kind: 'conflict', code: 'lock_timeout', exitCode: 4 });
    expect((error as Error).message).toContain(lockPath(dir));
    expect((error as Error).message).toContain(`pid ${process.pid}`);
  });

  it('breaks a lock older than the stale age even if its holder may be alive elsewhere', async () => {
    const dir = await stateDir();
    await plantLock(dir, lockOf(process.pid, 'some-other-host'), 60_000);
    const lock = await acquireLock(dir, { timeoutMs: 1_000 });
    expect(JSON.parse(await readFile(lockPath(dir), 'utf8')).hostname).toBe(hostname());
    await lock.release();
  });

  it('waits for a young empty lock (writer still creating it) but breaks an old one', async () => {
    const dir = await stateDir();
    await plantLock(dir, '');
    await expect(acquireLock(dir, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'lock_timeout' });
    await plantLock(dir, '{"pi', 5_000);
    const lock = await acquireLock(dir, { timeoutMs: 1_000 });
    await lock.release();
  });

  it('keeps a long-held lock fresh so it is not taken for stale', async () => {
    const dir = await stateDir();
    const held = await acquireLock(dir, { staleMs: 300 });
    // Held for well over the stale age; the holder's touches keep it.
    await expect(acquireLock(dir, { staleMs: 300, timeoutMs: 900 })).rejects.toMatchObject({ code: 'lock_timeout' });
    await held.release();
  });

  it('releases only a lock that is still its own', async () => {
    const dir = await stateDir();
    const lock = await acquireLock(dir);
    const theirs = lockOf(process.pid, 'another-host');
    await writeFile(lockPath(dir), theirs); // as if ours had been broken and taken over
    await lock.release();
    expect(await readFile(lockPath(dir), 'utf8')).toBe(theirs);
  });

  it('puts back a lock that is not the one judged stale', async () => {
    const dir = await stateDir();
    await plantLock(dir, lockOf(process.pid));
    const before = await stat(lockPath(dir));
    expect(await guardedRemove(lockPath(dir), () => false)).toBe('restored');
    const after = await stat(lockPath(dir));
    expect(after.ino).toBe(before.ino);
    expect(await guardedRemove(lockPath(dir), () => true)).toBe('removed');
    expect(await guardedRemove(lockPath(dir), () => true)).toBe('gone');
  });

  it('serialises callers in one process', async () => {
    const dir = await stateDir();
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withLock(dir, async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(5);
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
    await expect(stat(lockPath(dir))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('releases when the work throws', async () => {
    const dir = await stateDir();
    await expect(withLock(dir, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(stat(lockPath(dir))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails with lock_failed when the state folder is missing', async () => {
    await expect(acquireLock(join(work, 'nope'))).rejects.toMatchObject({ kind: 'failed', code: 'lock_failed' });
  });
});
