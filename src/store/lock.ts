import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { conflictError, failedError } from '../core/errors.js';
import { guardedRemove, type LockSnapshot } from './lock-file.js';

/**
 * The inter-process lock that serialises policy writers: `<stateDir>/policy.lock`,
 * created with O_EXCL and holding `{pid, hostname, acquiredAt, token}`.
 * A lock whose holder died (same host, pid gone) is broken at once; any lock
 * untouched for `staleMs` is broken too, which covers holders on other hosts
 * sharing the folder. A live holder touches its lock so long work under it is
 * not mistaken for a dead holder.
 */
export const LOCK_FILE_NAME = 'policy.lock';

export interface LockOptions {
  /** Give up waiting after this long (default 10 s). */
  timeoutMs?: number;
  /** A lock file untouched for this long is stale (default 30 s). */
  staleMs?: number;
}

export interface LockContents {
  pid: number;
  hostname: string;
  acquiredAt: string;
  /** Random per acquisition, so "is it still ours" never confuses two holders. */
  token: string;
}

export interface LockHandle {
  readonly path: string;
  readonly contents: LockContents;
  /** Removes the lock if it is still ours; safe to call twice. */
  release(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_STALE_MS = 30_000;
/** An empty or unparseable lock older than this was left by a writer that died between create and write. */
const UNREADABLE_GRACE_MS = 1_000;

export function lockPath(stateDir: string): string {
  return join(stateDir, LOCK_FILE_NAME);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** 5–25 ms, jittered so waiting writers do not retry in lock step. */
const backoff = () => 5 + Math.random() * 20;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but belongs to someone else: alive.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function parseContents(raw: string): LockContents | null {
  try {
    const data = JSON.parse(raw) as Partial<LockContents> | null;
    if (data === null || typeof data !== 'object') return null;
    if (typeof data.pid !== 'number' || typeof data.hostname !== 'string') return null;
    return { pid: data.pid, hostname: data.hostname, acquiredAt: String(data.acquiredAt ?? ''), token: String(data.token ?? '') };
  } catch {
    return null;
  }
}

/** Reads the lock as it is now, or null when there is none. */
async function snapshot(path: string): Promise<LockSnapshot | null> {
  try {
    const [info, raw] = await Promise.all([stat(path), readFile(path, 'utf8')]);
    return { ino: info.ino, mtimeMs: info.mtimeMs, raw };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Why this lock may be broken, or null when its holder must be waited for. */
function staleReason(snap: LockSnapshot, staleMs: number): string | null {
  const age = Date.now() - snap.mtimeMs;
  const holder = parseContents(snap.raw);
  if (holder === null) return age > UNREADABLE_GRACE_MS ? 'unreadable' : null;
  if (holder.hostname === hostname() && !pidAlive(holder.pid)) return 'holder-dead';
  return age > staleMs ? 'too-old' : null;
}

export async function acquireLock(stateDir: string, opts: LockOptions = {}): Promise<LockHandle> {
  const path = lockPath(stateDir);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  const deadline = Date.now() + timeoutMs;
  const contents: LockContents = { pid: process.pid, hostname: hostname(), acquiredAt: '', token: randomBytes(12).toString('hex') };

  for (;;) {
    contents.acquiredAt = new Date().toISOString();
    try {
      // One write call right after the exclusive create keeps the window in
      // which the lock exists but is empty as short as it can be.
      await writeFile(path, `${JSON.stringify(contents)}\n`, { flag: 'wx', mode: 0o644 });
      return holdLock(path, { ...contents }, staleMs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw failedError('lock_failed', `Cannot create the lock file ${path}: ${(err as Error).message}`, { path, cause: code });
      }
    }

    const snap = await snapshot(path);
    if (snap === null) continue; // released between our create and our read: try again at once
    const reason = staleReason(snap, staleMs);
    if (reason !== null) {
      // Only the exact lock we judged stale is removed; a fresh one is put back.
      await guardedRemove(path, (seen) => seen.ino === snap.ino && seen.mtimeMs === snap.mtimeMs && seen.raw === snap.raw);
      continue;
    }
    if (Date.now() >= deadline) {
      const holder = parseContents(snap.raw);
      const who = holder === null ? 'a writer that has not finished creating it' : `pid ${holder.pid} on ${holder.hostname} since ${holder.acquiredAt}`;
      throw conflictError(
        'lock_timeout',
        `Timed out after ${timeoutMs} ms waiting for the policy lock ${path}, held by ${who}. If no switchyard command is running, remove the file and try again.`,
        { path, holder },
      );
    }
    await sleep(backoff());
  }
}

function holdLock(path: string, contents: LockContents, staleMs: number): LockHandle {
  // Touch the lock well within the stale age, so a slow holder keeps it.
  const touch = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(50, Math.floor(staleMs / 3)));
  touch.unref();
  let released = false;
  return {
    path,
    contents,
    async release() {
      if (released) return;
      released = true;
      clearInterval(touch);
      // If someone broke our lock as stale and took it, theirs stays.
      await guardedRemove(path, (seen) => parseContents(seen.raw)?.token === contents.token);
    },
  };
}

/** Runs `fn` holding the state folder's policy lock; always releases. */
export async function withLock<T>(stateDir: string, fn: () => T | Promise<T>, opts?: LockOptions): Promise<T> {
  const lock = await acquireLock(stateDir, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
