import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { usageError } from '../core/errors.js';
import { SERVICE_NAME } from '../core/names.js';
import { ENV_KEY, isReservedEnvKey } from '../config/fields.js';

/**
 * `init --from ecosystem.config.js`: the apps of a PM2 ecosystem file turned
 * into switchyard services. Only fields switchyard has a setting for are
 * carried over (script, args, cwd, instances, env, kill_timeout); every
 * other one is listed as not carried over, never mapped onto an invented key.
 */

export interface ConvertedService {
  name: string;
  /** The service's settings, as they go under services.<name> in the config. */
  settings: Record<string, unknown>;
}

export interface Conversion {
  services: ConvertedService[];
  /** `lobby.max_memory_restart: switchyard has no setting for it`, one per field not carried over. */
  notCarried: string[];
  /** Things carried over with a change a person should check. */
  notes: string[];
}

/** What each PM2 field becomes; fields not here are not carried over. */
const CARRIED = new Set(['name', 'script', 'args', 'cwd', 'instances', 'env', 'kill_timeout']);

/** Why a field switchyard knows of is not carried over, when there is more to say than "no setting". */
const WHY: Record<string, string> = {
  max_memory_restart: 'switchyard has no memory limit setting; set it in PM2 by hand or watch memory in `switchyard status`',
  exec_mode: 'switchyard starts every process in fork mode, one port each',
  port: 'switchyard gives each process a port of services.<name>.ports in PORT',
  interpreter: 'switchyard runs scripts with node (hosts.<name>.nodePath on remote hosts)',
  watch: 'switchyard starts each version once and never restarts it on file changes',
  out_file: 'switchyard writes each process log under its state folder (`switchyard logs`)',
  error_file: 'switchyard writes each process log under its state folder (`switchyard logs`)',
  log_file: 'switchyard writes each process log under its state folder (`switchyard logs`)',
};

export async function loadEcosystem(file: string): Promise<unknown> {
  const path = resolve(file);
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.json') return JSON.parse(await readFile(path, 'utf8'));
    if (ext === '.yaml' || ext === '.yml') return (await import('yaml')).parse(await readFile(path, 'utf8'));
    if (ext === '.js' || ext === '.cjs' || ext === '.mjs') {
      if (ext !== '.mjs') {
        try {
          const loaded = createRequire(path)(path) as Record<string, unknown> | null;
          // Node may load an ES module through require: its export default is the file's content.
          return loaded !== null && typeof loaded === 'object' && !('apps' in loaded) && 'default' in loaded ? loaded.default : loaded;
        } catch (error) {
          // A .js file in a "type": "module" package is an ES module: import it instead.
          if ((error as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw error;
        }
      }
      const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
      return module.default ?? module;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'the file does not exist' : error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw usageError('ecosystem_unreadable', `Could not read the PM2 ecosystem file ${path}: ${why}.`, { file: path });
  }
  throw usageError('ecosystem_format', `${path}: a PM2 ecosystem file ends in .js, .cjs, .mjs, .json or .yaml.`, { file: path });
}

function serviceName(raw: unknown, index: number, taken: Set<string>): string {
  const base = typeof raw === 'string' ? raw.replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[-_]+/, '').slice(0, 60) : '';
  let name = SERVICE_NAME.test(base) ? base : `app${index + 1}`;
  for (let n = 2; taken.has(name); n++) name = `${base || 'app'}-${n}`;
  taken.add(name);
  return name;
}

/** PM2's `args` is a string (split like a shell would, without quotes) or a list. */
function argsOf(value: unknown): string[] | undefined {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') return value.split(/\s+/).filter((w) => w !== '');
  return undefined;
}

function convertApp(app: Record<string, unknown>, name: string, index: number, out: Conversion): ConvertedService {
  const settings: Record<string, unknown> = {};
  const skip = (field: string, why = 'switchyard has no setting for it') => out.notCarried.push(`${name}.${field}: ${why}`);
  if (typeof app.script !== 'string' || app.script === '') throw usageError('ecosystem_invalid', `apps[${index}] (${name}) has no script: PM2 needs one, and so does switchyard.`);
  settings.script = app.script;
  if (!app.script.includes('{version}')) {
    out.notes.push(`${name}.script is ${app.script}: every version would run that same file; put {version} where each version's release lives (like releases/{version}/${app.script.replace(/^\.\//, '')})`);
  }
  const args = argsOf(app.args);
  if (args !== undefined && args.length > 0) settings.args = args;
  else if (app.args !== undefined && args === undefined) skip('args', 'expected a string or a list');
  if (typeof app.cwd === 'string') settings.cwd = app.cwd;
  if (app.instances !== undefined) {
    const n = Number(app.instances);
    if (Number.isInteger(n) && n >= 1) settings.instances = n;
    else skip('instances', `${JSON.stringify(app.instances)} (all cores) has no switchyard equivalent: set services.${name}.instances to a number`);
  }
  if (app.env !== undefined && typeof app.env === 'object' && app.env !== null) {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(app.env)) {
      if (!ENV_KEY.test(key)) skip(`env.${key}`, 'not a variable name switchyard accepts');
      else if (isReservedEnvKey(key)) skip(`env.${key}`, 'switchyard sets PORT and SWITCHYARD_* itself');
      else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') env[key] = String(value);
      else skip(`env.${key}`, 'not a string or number');
    }
    if (Object.keys(env).length > 0) settings.env = env;
  }
  if (app.kill_timeout !== undefined) {
    const ms = Number(app.kill_timeout);
    if (Number.isInteger(ms) && ms > 0) settings.killTimeout = `${ms}ms`;
    else skip('kill_timeout', 'expected a number of milliseconds');
  }
  // PM2 has no port range; each service gets its own block of a hundred.
  settings.ports = `${7500 + index * 100}-${7599 + index * 100}`;
  for (const field of Object.keys(app).filter((k) => !CARRIED.has(k))) {
    skip(field, WHY[field] ?? (field.startsWith('env_') ? `switchyard has one env per service; merge ${field} into env by hand if you need it` : 'switchyard has no setting for it'));
  }
  return { name, settings };
}

export function convertEcosystem(raw: unknown, file: string): Conversion {
  const apps = Array.isArray(raw) ? raw : (raw as { apps?: unknown } | null)?.apps;
  if (!Array.isArray(apps) || apps.length === 0) {
    throw usageError('ecosystem_invalid', `${file}: expected a PM2 ecosystem file with an "apps" list of at least one app.`, { file });
  }
  const out: Conversion = { services: [], notCarried: [], notes: [] };
  const taken = new Set<string>();
  apps.forEach((app, i) => {
    if (app === null || typeof app !== 'object') throw usageError('ecosystem_invalid', `${file}: apps[${i}] is not a mapping of settings.`, { file });
    const entry = app as Record<string, unknown>;
    out.services.push(convertApp(entry, serviceName(entry.name, i, taken), i, out));
  });
  return out;
}
