import { isAbsolute, resolve } from 'node:path';
import { ENV_OVERRIDES } from './defaults.js';

/**
 * Applies the allow-listed SWITCHYARD_* overrides to the raw config, before
 * validation, so an override gets exactly the checks the file gets and a bad
 * one is reported under its variable name. Every other variable is ignored:
 * in particular the ones switchyard gives its processes (SWITCHYARD_SERVICE,
 * _VERSION, _PROCESS, _ROUTER_URL, _TOKEN, _HEARTBEAT_MS), so a CLI run
 * inside a service process sees the same config as one run by hand.
 */
export interface Overridden {
  /** A copy of the raw config with the overrides set (the input is not changed). */
  raw: unknown;
  /** Dotted key path → the variable that set it, for error messages. */
  sources: Map<string, string>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv, cwd: string): Overridden {
  const sources = new Map<string, string>();
  // Anything but a mapping fails validation anyway; leave it for the schema to report.
  if (!isPlainObject(raw)) return { raw, sources };
  const copy: Record<string, unknown> = { ...raw };
  for (const override of ENV_OVERRIDES) {
    const value = env[override.variable];
    // `VAR= switchyard …` is the shell's way of unsetting a variable for one command.
    if (value === undefined || value === '') continue;
    // A relative path in a variable is read from where the command runs, as any shell user expects.
    const set = override.kind === 'path' && !isAbsolute(value) && !value.startsWith('~') ? resolve(cwd, value) : value;
    const [first, second] = override.path;
    if (second === undefined) {
      copy[first] = set;
    } else {
      const section = copy[first] ?? {};
      // A router key that is not a mapping is a file error: report that, not the override.
      if (section !== null && !isPlainObject(section)) continue;
      copy[first] = { ...(section ?? {}), [second]: set };
    }
    sources.set(override.path.join('.'), override.variable);
  }
  return { raw: copy, sources };
}
