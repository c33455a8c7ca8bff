import { constants } from 'node:fs';
import { lstat, mkdir, open, type FileHandle } from 'node:fs/promises';
import { failedError, isSwitchyardError, usageError, type SwitchyardError } from '../core/errors.js';

/**
 * Reading and checking the files of the state folder (policy.json, the
 * history, the token) with errors a person can act on: a symlink, a folder
 * where a file belongs, or a file where a folder belongs each get a sentence
 * naming the path and what to do, never "internal error: EISDIR".
 */

/** The one-line instruction for a wrong file type. */
const MOVE_ASIDE = 'move it aside (for example `mv PATH PATH.bak`) and run the command again';

function moveAside(path: string): string {
  return MOVE_ASIDE.replaceAll('PATH', path);
}

export function symlinkError(path: string): SwitchyardError {
  return usageError(
    'state_symlink',
    `${path} is a symbolic link, which switchyard refuses to follow: replace the link with a copy of the file it points to (for example \`cp --remove-destination "$(readlink -f ${path})" ${path}\`).`,
    { path },
  );
}

export function notFileError(path: string, what: string): SwitchyardError {
  return usageError('state_wrong_type', `${path} is ${what}, but switchyard keeps a regular file there: ${moveAside(path)}.`, { path });
}

export function notFolderError(path: string): SwitchyardError {
  return usageError('state_wrong_type', `${path} (or a folder above it) is a file, but switchyard keeps a folder there: ${moveAside(path)}.`, { path });
}

function kindOf(info: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Turns an error met at `path` into a clear one when it is about file types;
 * `folder` is the folder `path` lives in, named when it turns out to be a file.
 */
export function explainFsError(err: unknown, path: string, folder: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return symlinkError(path);
  if (code === 'ENOTDIR') return notFolderError(folder);
  if (code === 'EISDIR') return notFileError(path, 'a folder');
  return err;
}

/**
 * Reads a state file as text, or undefined when it does not exist. Never
 * follows a symlink (O_NOFOLLOW) and never blocks on a named pipe
 * (O_NONBLOCK); anything but a regular file is refused.
 */
export async function readStateFile(path: string, folder: string): Promise<string | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) throw notFileError(path, kindOf(info));
    return await handle.readFile('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const clear = explainFsError(err, path, folder);
    if (clear !== err || isSwitchyardError(err)) throw clear;
    throw failedError('state_unreadable', `Cannot read ${path}: ${(err as Error).message}`, { path, cause: (err as NodeJS.ErrnoException).code });
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Whether a regular file is at `path` (a symlink or another type is refused with a clear error). */
export async function regularFileExists(path: string, folder: string): Promise<boolean> {
  try {
    const info = await lstat(path);
    if (info.isSymbolicLink()) throw symlinkError(path);
    if (!info.isFile()) throw notFileError(path, kindOf(info));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw explainFsError(err, path, folder);
  }
}

/** Creates `dir` and its parents; a file in the way gets a clear error. */
export async function ensureFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') throw notFolderError(dir);
    throw err;
  }
}
