import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedError, isSwitchyardError, usageError } from '../core/errors.js';
import { createFileExclusive } from './atomic-write.js';
import { explainFsError, readStateFile } from './state-files.js';

const TOKEN_FILE = 'token';
const TOKEN_BYTES = 32;

export function tokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE);
}

/**
 * Reads the shared secret for heartbeats and status, making it on first use.
 * The file is created whole, at mode 0600, and only if no token exists
 * (written to a 0600 temp file, then hard-linked into place): of two first
 * uses at once, one creates the token and the other reads it.
 */
export async function ensureToken(stateDir: string): Promise<{ token: string; created: boolean; path: string }> {
  const path = tokenPath(stateDir);
  const existing = await readToken(stateDir);
  if (existing !== undefined) return { token: existing, created: false, path };
  if (!existsSync(stateDir)) {
    throw usageError('state_missing', `There is no state folder at ${stateDir}: run \`switchyard init\` to make it (with the policy and the token).`);
  }
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  let outcome: 'created' | 'exists';
  try {
    outcome = await createFileExclusive(path, `${token}\n`, 0o600);
  } catch (err) {
    const clear = explainFsError(err, path, stateDir);
    if (isSwitchyardError(clear)) throw clear;
    throw failedError('token_unwritable', `Cannot create the token at ${path}: ${(err as Error).message}.`, { path });
  }
  if (outcome === 'created') return { token, created: true, path };
  const winner = await readToken(stateDir);
  if (winner === undefined) throw failedError('token_unreadable', `The token at ${path} vanished while it was being made: run the command again.`, { path });
  return { token: winner, created: false, path };
}

/**
 * The token a router signs and checks with: read, never made. Only `init`
 * makes a token: a router host that made its own would answer 401 to every
 * heartbeat signed with the state's real one. So a router without it
 * refuses to start, naming the file to copy and where it comes from, and
 * creates nothing. `routers`: the routers the config lists (router.url),
 * which hold the same file.
 */
export async function requireToken(stateDir: string, routers: readonly string[], why = 'this router would refuse every heartbeat'): Promise<string> {
  const token = await readToken(stateDir);
  if (token !== undefined) return token;
  const path = tokenPath(stateDir);
  const hosts = [...new Set(routers.map((url) => new URL(url).hostname))];
  const from = hosts.length > 0
    ? `from a router host of this state (router.url lists ${hosts.join(', ')}), or the host where \`switchyard init\` made it`
    : 'from the host where `switchyard init` made it (every router of one state needs the same file)';
  throw usageError(
    'token_missing',
    `There is no token at ${path}, so ${why}: copy ${path} ${from}, for example \`mkdir -p ${stateDir} && scp ${hosts[0] ?? 'init-host'}:${path} ${path} && chmod 600 ${path}\` (the same path on that host when its config sits in the same place). For a new state, run \`switchyard init\` instead. Nothing was created.`,
    { path },
  );
}

/** The token, or undefined when none has been made yet. */
export async function readToken(stateDir: string): Promise<string | undefined> {
  const path = tokenPath(stateDir);
  let text: string | undefined;
  try {
    text = await readStateFile(path, stateDir);
  } catch (error) {
    if (isSwitchyardError(error) && error.code !== 'state_unreadable') throw error;
    throw failedError('token_unreadable', `${(error as Error).message} (the token).`, { path });
  }
  if (text === undefined) return undefined;
  const token = text.trim();
  if (!/^[0-9a-f]{32,}$/.test(token)) {
    throw failedError('token_invalid', `The token at ${path} is not a hex secret of at least 16 bytes: delete it and run \`switchyard init\` to make a new one.`);
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) await chmod(path, 0o600);
  return token;
}
