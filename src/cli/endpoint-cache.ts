import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { ENV_OVERRIDES } from '../config/defaults.js';
import { routerUrls } from '../config/router-url.js';
import { SEARCH_PLACES, TS_PLACES } from '../config/search-places.js';
import type { Config } from '../config/schema.js';

/**
 * What `switchyard status` needs from a config to ask the router: its URL
 * and the state folder (for the token). Remembered after every full,
 * validated load, and used only while the config file is unchanged (same
 * path, size and mtime) and the same SWITCHYARD_* overrides are set, so the
 * fast path never acts on a config that was not validated. Kept in the
 * user's own cache folder (mode 0700): the entry decides where the token is
 * sent, so it must not be writable by anyone else.
 *
 * JavaScript configs are never remembered: they can read the environment or
 * other files, which no mtime here would notice.
 */
export interface Endpoint {
  /**
   * The router the CLI asks first (with several routers listed, the first of
   * them: when it fails, the fast path gives way and the full command fails
   * over and reports it).
   */
  routerUrl: string;
  stateDir: string;
}

interface Entry extends Endpoint {
  filepath: string;
  size: number;
  mtimeMs: number;
  env: string;
}

const JS_EXTENSIONS = ['.js', '.mjs', '.cjs'];

function cacheDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'switchyard');
}

/** Two 32-bit FNV-1a hashes: names the entry without node:crypto or BigInt (the entry holds its path and is checked). */
function pathHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return `${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}`;
}

function entryPath(filepath: string, env: NodeJS.ProcessEnv): string {
  return join(cacheDir(env), `endpoint-${pathHash(filepath)}.json`);
}

/** The overrides in effect, and the cwd when one is set (a relative path override is read from it). */
function envKey(env: NodeJS.ProcessEnv, cwd: string): string {
  const set = ENV_OVERRIDES.map((o) => [o.variable, env[o.variable] ?? '']).filter(([, v]) => v !== '');
  return set.length === 0 ? '' : JSON.stringify({ cwd, set });
}

/**
 * The config file a full load would read, found without cosmiconfig; undefined
 * when the search would end in an error (a TypeScript config, or none) so that
 * the full path reports it.
 */
export function findConfigPath(cwd: string, configOption: string | undefined): string | undefined {
  if (configOption !== undefined) return resolve(cwd, configOption);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const place of SEARCH_PLACES) {
      const path = join(dir, place);
      if (!existsSync(path)) continue;
      if (place !== 'package.json') return path;
      try {
        if ((JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>).switchyard !== undefined) return path;
      } catch {
        return undefined;
      }
    }
    if (TS_PLACES.some((place) => existsSync(join(dir, place)))) return undefined;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The remembered endpoint for this config file, if it still holds. */
export function cachedEndpoint(filepath: string, env: NodeJS.ProcessEnv, cwd: string): Endpoint | undefined {
  try {
    const path = entryPath(filepath, env);
    const own = statSync(path);
    if (typeof process.getuid === 'function' && own.uid !== process.getuid()) return undefined;
    const entry = JSON.parse(readFileSync(path, 'utf8')) as Partial<Entry>;
    const file = statSync(filepath);
    const holds = entry.filepath === filepath && entry.size === file.size && entry.mtimeMs === file.mtimeMs && entry.env === envKey(env, cwd);
    if (!holds || typeof entry.routerUrl !== 'string' || typeof entry.stateDir !== 'string') return undefined;
    return { routerUrl: entry.routerUrl, stateDir: entry.stateDir };
  } catch {
    return undefined;
  }
}

/** Remembers a validated config's endpoint; best effort (a read-only home only costs speed). */
export async function rememberEndpoint(filepath: string, config: Config, env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  if (JS_EXTENSIONS.includes(extname(filepath))) return;
  try {
    const file = statSync(filepath);
    const entry: Entry = { filepath, size: file.size, mtimeMs: file.mtimeMs, env: envKey(env, cwd), routerUrl: routerUrls(config)[0]!, stateDir: config.stateDir };
    const current = cachedEndpoint(filepath, env, cwd);
    if (current?.routerUrl === entry.routerUrl && current.stateDir === entry.stateDir) return;
    await mkdir(cacheDir(env), { recursive: true, mode: 0o700 });
    const { writeFileAtomic } = await import('../store/atomic-write.js');
    await writeFileAtomic(entryPath(filepath, env), `${JSON.stringify(entry)}\n`, 0o600);
    await prune(cacheDir(env));
  } catch {
    // The cache only saves time.
  }
}

const KEEP_ENTRIES = 64;

/** Past a few dozen entries (temp projects, tests), drops those whose config file is gone. */
async function prune(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.startsWith('endpoint-') && n.endsWith('.json'));
  if (names.length <= KEEP_ENTRIES) return;
  for (const name of names) {
    const path = join(dir, name);
    const entry = JSON.parse(await readFile(path, 'utf8').catch(() => '{}')) as Partial<Entry>;
    if (typeof entry.filepath !== 'string' || !existsSync(entry.filepath)) await unlink(path).catch(() => undefined);
  }
}
