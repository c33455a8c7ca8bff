import { Output } from './output.js';

/** The global flags every command takes. */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
  yes?: boolean;
  service?: string;
  verbose?: boolean;
}

/**
 * What a command needs to know about how it was called. Interactivity is
 * decided here, once: a TTY on stdin, not CI, and no --yes.
 */
export interface Context {
  cwd: string;
  env: NodeJS.ProcessEnv;
  options: GlobalOptions;
  interactive: boolean;
  out: Output;
}

export function isCI(env: NodeJS.ProcessEnv): boolean {
  const value = env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

export function createContext(options: GlobalOptions, io: { stdinIsTTY: boolean; cwd: string; env: NodeJS.ProcessEnv }): Context {
  const interactive = io.stdinIsTTY && !isCI(io.env) && options.yes !== true;
  return {
    cwd: io.cwd,
    env: io.env,
    options,
    interactive,
    out: new Output({ json: options.json === true, verbose: options.verbose === true }),
  };
}
