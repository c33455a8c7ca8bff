import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Removing a lock file safely. A plain "read, decide, unlink" can delete a
 * lock that another process created between our read and our unlink. So we
 * first rename the lock out of the way (only one process can win that
 * rename), look at what we actually took, and delete it only if it is the
 * file we meant; otherwise we put it back.
 */

/** What we saw of a lock file when we judged it. */
export interface LockSnapshot {
  ino: number;
  mtimeMs: number;
  raw: string;
}

export type RemoveOutcome = 'removed' | 'gone' | 'restored';

/** A name that removeStaleTempFiles recognises, so a remover killed mid-way leaves nothing that lasts. */
function asideName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

export async function guardedRemove(path: string, isExpected: (seen: LockSnapshot) => boolean): Promise<RemoveOutcome> {
  const aside = asideName(path);
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  // rename keeps the inode and the mtime, so this compares like with like.
  const [info, raw] = await Promise.all([stat(aside), readFile(aside, 'utf8')]);
  if (isExpected({ ino: info.ino, mtimeMs: info.mtimeMs, raw })) {
    await unlink(aside);
    return 'removed';
  }
  await putBack(aside, path);
  return 'restored';
}

async function putBack(aside: string, path: string): Promise<void> {
  try {
    // link() never overwrites: if yet another lock appeared meanwhile, that
    // newer one is left in place and the one we took is dropped.
    await link(aside, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') {
      // No hard links on this file system: restore by rename unless a newer lock exists.
      const exists = await stat(path).then(() => true, () => false);
      if (!exists) {
        await rename(aside, path);
        return;
      }
    } else if (code !== 'EEXIST') {
      throw err;
    }
  }
  await unlink(aside).catch(() => undefined);
}
