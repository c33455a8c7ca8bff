import { dirname, resolve } from 'node:path';
import { usageError } from '../core/errors.js';
import { findConfigFile, readConfigFile } from './config-file.js';
import { crossCheck } from './cross-checks.js';
import { applyEnvOverrides } from './env-overrides.js';
import { normaliseConfig } from './normalise.js';
import { fallbackExpected, finishProblems, formatProblems, problemsFromIssues, type ConfigProblem, type RawProblem } from './problems.js';
import { configSchema, type Config } from './schema.js';
import { configWarnings } from './warnings.js';

export { pm2SocketPathTooLong } from './warnings.js';
export type { Config } from './schema.js';
export type { ConfigProblem } from './problems.js';

export interface LoadOptions {
  /** Where the search starts, and what relative --config and path variables are read against. */
  cwd: string;
  /** --config: load exactly this file, no search. */
  configPath?: string;
  /** Defaults to process.env; only the allow-listed SWITCHYARD_* overrides are read. */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the config file. */
  filepath: string;
  /** The folder of the config file: stateDir and pm2Home are resolved against it. */
  dir: string;
  /** Valid but risky settings, for the CLI to print. */
  warnings: string[];
}

function invalid(filepath: string, raw: unknown, problems: RawProblem[], sources: Map<string, string>): Error {
  const finished: ConfigProblem[] = finishProblems(raw, problems, sources);
  return usageError('config_invalid', formatProblems(filepath, finished), { file: filepath, problems: finished });
}

/**
 * Finds (or reads the given) config file, applies the environment
 * overrides, validates everything, and returns the normalised config.
 * Every problem is reported at once, each naming the file, the key, what
 * was found and what is expected.
 */
export async function loadConfig(opts: LoadOptions): Promise<LoadedConfig> {
  const source = opts.configPath === undefined
    ? await findConfigFile(resolve(opts.cwd))
    : await readConfigFile(resolve(opts.cwd, opts.configPath));
  const loaded = checkConfig(source.raw ?? {}, source.filepath, opts);
  if (source.raw === undefined) loaded.warnings.unshift(`${source.filepath} is empty: every setting has its default and no service is configured.`);
  return loaded;
}

/**
 * loadConfig's checks on a config already parsed, as if read from
 * `filepath` (init checks what it is about to write, before writing it).
 */
export function checkConfig(fileRaw: unknown, filepath: string, opts: Omit<LoadOptions, 'configPath'>): LoadedConfig {
  const env = opts.env ?? process.env;
  const dir = dirname(filepath);
  const warnings: string[] = [];
  const { raw, sources } = applyEnvOverrides(fileRaw, env, opts.cwd);
  const parsed = configSchema.safeParse(raw, { error: fallbackExpected });
  if (!parsed.success) throw invalid(filepath, raw, problemsFromIssues(parsed.error.issues), sources);

  const config = normaliseConfig(parsed.data, dir);
  // Cross-field checks need every field valid on its own, so they run second.
  const crossProblems = crossCheck(config, raw);
  if (crossProblems.length > 0) throw invalid(filepath, raw, crossProblems, sources);

  warnings.push(...configWarnings(config));
  return { config, filepath, dir, warnings };
}
