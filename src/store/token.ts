import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedError, usageError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';

const TOKEN_FILE = 'token';
const TOKEN_BYTES = 32;

export function tokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE);
}

/**
 * Reads the shared secret for heartbeats and status, making it on first use.
 * The file is kept at mode 0600: a token readable by others is tightened.
 */
export async function ensureToken(stateDir: string): Promise<{ token: string; created: boolean; path: string }> {
  const path = tokenPath(stateDir);
  const existing = await readToken(stateDir);
  if (existing !== undefined) return { token: existing, created: false, path };
  if (!existsSync(stateDir)) {
    throw usageError('state_missing', `There is no state folder at ${stateDir}: run \`switchyard init\` to make it (with the policy and the token).`);
  }
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  await writeFileAtomic(path, `${token}\n`, 0o600);
  await chmod(path, 0o600);
  return { token, created: true, path };
}

/** The token, or undefined when none has been made yet. */
export async function readToken(stateDir: string): Promise<string | undefined> {
  const path = tokenPath(stateDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw failedError('token_unreadable', `Cannot read the token at ${path}: ${(error as Error).message}.`);
  }
  const token = text.trim();
  if (!/^[0-9a-f]{32,}$/.test(token)) {
    throw failedError('token_invalid', `The token at ${path} is not a hex secret of at least 16 bytes: delete it and run \`switchyard init\` to make a new one.`);
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) await chmod(path, 0o600);
  return token;
}
