import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Atomic file replacement: a reader sees either the whole old file or the
 * whole new one, never a mix, and after we return the new file survives a
 * power cut. Hand-written on node:fs/promises because we need the folder
 * fsync that makes the rename itself durable.
 */

/**
 * Temp names start with "." and end with ".tmp" so listings can skip them:
 * `.<target>.<pid>.<host tag><random>.tmp`. The host tag (8 hex digits of a
 * hash of the host name) tells the sweeper whether the pid is one it can
 * check, when several hosts share the folder.
 */
const TEMP_NAME = /^\.(.+)\.(\d+)\.([0-9a-f]+)\.tmp$/;
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const TAGGED_LENGTH = 20;

function tempPathFor(target: string): string {
  // Same folder as the target: rename(2) is only atomic within one file system.
  return join(dirname(target), `.${basename(target)}.${process.pid}.${HOST_TAG}${randomBytes(6).toString('hex')}.tmp`);
}

/** Whether the temp file's writer pid can be checked here: tagged with this host, or untagged (older names). */
function fromThisHost(tag: string): boolean {
  return tag.length !== TAGGED_LENGTH || tag.startsWith(HOST_TAG);
}

/** True when `name` is a temp file left by writeFileAtomic. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** Writes `data` to a fresh temp file beside `target` and fsyncs it; returns its path. */
async function writeTemp(target: string, data: string, mode: number): Promise<string> {
  const temp = tempPathFor(target);
  let handle: FileHandle | undefined;
  try {
    // 'wx': never follow or reuse a file someone else put at our temp name.
    handle = await open(temp, 'wx', mode);
    await handle.writeFile(data, 'utf8');
    // Data must be on disk before a rename or link publishes it, or a crash
    // could leave a published but empty file.
    await handle.sync();
    await handle.close();
    return temp;
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

export async function writeFileAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const temp = await writeTemp(path, data, mode);
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/**
 * Creates `path` holding `data` only if nothing is there: the file appears
 * whole (written and fsynced under a temp name, then hard-linked into place)
 * or not at all, and link(2) never overwrites, so of several creators
 * exactly one gets 'created' and the others 'exists'. The new name is made
 * durable before returning.
 */
export async function createFileExclusive(path: string, data: string, mode = 0o644): Promise<'created' | 'exists'> {
  const temp = await writeTemp(path, data, mode);
  try {
    await link(temp, path);
    await fsyncDir(dirname(path));
    return 'created';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Makes a rename or create in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some platforms (Windows) and file systems cannot open or fsync a
    // folder; the rename has still happened, so durability is best effort there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes temp files a killed writer left in `dir`: those whose writer pid is
 * gone from this host, or that are older than `olderThanMs` (a pid reused by
 * another process, or a writer on another host). A live writer holds its
 * temp file for milliseconds, far below that age. Returns how many were removed.
 */
export async function removeStaleTempFiles(dir: string, olderThanMs: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (match === null) continue;
    const path = join(dir, name);
    try {
      const info = await stat(path);
      const old = Date.now() - info.mtimeMs > olderThanMs;
      if (old || (fromThisHost(match[3]!) && !pidAlive(Number(match[2])))) {
        await unlink(path);
        removed += 1;
      }
    } catch {
      // Gone already, or not ours to remove: either way nothing to do.
    }
  }
  return removed;
}
