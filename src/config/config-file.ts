import { existsSync } from 'node:fs';
import { dirname, extname, join, parse as parsePath } from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import { usageError } from '../core/errors.js';
import { loadJs, loadJson, loadYaml } from './loaders.js';
import { SEARCH_PLACES, TS_EXTENSIONS, TS_PLACES } from './search-places.js';

/**
 * Finds and reads the config file (cosmiconfig, module name `switchyard`).
 *
 * Search: from the cwd up to the filesystem root, the first folder holding
 * one of SEARCH_PLACES wins, like git finding .git. Not cosmiconfig's
 * 'project' strategy: it stops at the nearest package.json, and a release
 * folder (releases/1.4.0/package.json) would then hide the project's config
 * from a command run inside it. Not 'global' either: a config in
 * ~/.config/switchyard would silently aim commands at some other fleet.
 *
 * TypeScript configs are not searched for. cosmiconfig's .ts loader works
 * here (checked with typescript 5.9), but it imports the `typescript`
 * package at run time, which switchyard only has as a devDependency, so a
 * switchyard.config.ts that works in this repo would fail once installed;
 * it also writes a compiled copy beside the config, which a read-only deploy
 * folder refuses. A .ts file that is found or named gets a clear error
 * saying to use .mjs (the same code without type annotations) or YAML,
 * rather than being skipped for some other folder's config.
 */
export { SEARCH_PLACES };

const JS_EXTENSIONS = ['.js', '.mjs', '.cjs'];

export interface ConfigSource {
  filepath: string;
  /** The config as the file holds it; undefined for an empty file. */
  raw: unknown;
}

function explorer() {
  return cosmiconfig('switchyard', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'none',
    // An empty switchyard.config.yaml is a config (all defaults), not a reason to look further up.
    ignoreEmptySearchPlaces: false,
    cache: false,
    // Every kind has our own loader (see loaders.ts); a file with another extension (--config deploy.conf) is read as YAML.
    loaders: { '.json': loadJson, '.yaml': loadYaml, '.yml': loadYaml, '.js': loadJs, '.mjs': loadJs, '.cjs': loadJs, noExt: loadYaml, default: loadYaml },
  });
}

/** A loader's message is the reason; the file is named once, in front, as in every config error. */
function parseFailure(filepath: string, error: unknown): Error {
  const reason = (error instanceof Error ? error.message : String(error)).trim();
  return usageError('config_invalid', `${filepath}: ${reason}`, { file: filepath });
}

function tsUnsupported(filepath: string): Error {
  const base = parsePath(filepath).name;
  return usageError(
    'config_invalid',
    `${filepath}: TypeScript config files are not supported (switchyard does not ship the TypeScript compiler): rename it to ${base}.mjs and remove the type annotations, or write ${base}.yaml.`,
    { file: filepath },
  );
}

function checkEmptyModule(filepath: string, raw: unknown): void {
  // A module with only named exports loads as "empty"; treating that as all defaults would hide the mistake.
  if (raw === undefined && JS_EXTENSIONS.includes(extname(filepath))) {
    throw usageError('config_invalid', `${filepath}: the module has no default export: write \`export default { … }\` (or \`module.exports = { … }\` in CommonJS).`, { file: filepath });
  }
}

/** Loads exactly `filepath` (from --config). */
export async function readConfigFile(filepath: string): Promise<ConfigSource> {
  if (TS_EXTENSIONS.includes(extname(filepath))) throw tsUnsupported(filepath);
  let result;
  try {
    result = await explorer().load(filepath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw usageError('config_missing', `The config file ${filepath} does not exist: check the --config path, or run \`switchyard init --config ${filepath}\` to write one.`, { file: filepath });
    }
    if (code === 'EISDIR') throw usageError('config_invalid', `${filepath}: is a folder; --config takes a config file, like ${join(filepath, 'switchyard.config.yaml')}.`, { file: filepath });
    throw parseFailure(filepath, error);
  }
  if (result === null) {
    // Only package.json answers null: the file is there but has no switchyard key.
    throw usageError('config_invalid', `${filepath}: has no "switchyard" key to read the config from.`, { file: filepath });
  }
  checkEmptyModule(filepath, result.config);
  return { filepath: result.filepath, raw: result.config };
}

/** Searches from `cwd` up to the filesystem root. */
export async function findConfigFile(cwd: string): Promise<ConfigSource> {
  const search = explorer();
  for (let dir = cwd; ; dir = dirname(dir)) {
    let result;
    try {
      result = await search.search(dir);
    } catch (error) {
      const file = (error as { filepath?: unknown }).filepath;
      throw parseFailure(typeof file === 'string' ? file : dir, error);
    }
    if (result !== null) {
      checkEmptyModule(result.filepath, result.config);
      return { filepath: result.filepath, raw: result.config };
    }
    // The nearest config wins even when it is one we cannot read: falling through to a parent folder's config would aim the command elsewhere.
    const ts = TS_PLACES.map((place) => join(dir, place)).find((p) => existsSync(p));
    if (ts !== undefined) throw tsUnsupported(ts);
    if (dirname(dir) === dir) break;
  }
  throw usageError(
    'config_missing',
    `No switchyard config found from ${cwd} upwards: run \`switchyard init\` to write one, or pass --config <file>.`,
    { cwd },
  );
}
