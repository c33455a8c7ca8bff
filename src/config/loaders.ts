import { realpath } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { Loader } from 'cosmiconfig';

/**
 * The loaders cosmiconfig uses for each kind of config file. switchyard
 * brings its own instead of cosmiconfig's defaults so that a broken file is
 * reported with where it broke, once, and nothing hides the real error.
 */

/**
 * The `yaml` package instead of cosmiconfig's js-yaml: errors carry line and
 * column, duplicate keys are errors, and `<<` merge keys work for shared
 * service settings. A document of only comments is an empty config.
 */
export const loadYaml: Loader = async (_filepath, content) => {
  // Loaded on use: JSON and JS configs, and commands that read no config, do not pay for it.
  const { parse: parseYaml } = await import('yaml');
  const value: unknown = parseYaml(content, { merge: true, prettyErrors: true });
  return value === null ? undefined : value;
};

/**
 * JSON.parse instead of cosmiconfig's parse-json, whose message repeats the
 * file name and the code frame; the position is turned into a line and column.
 */
export const loadJson: Loader = (_filepath, content) => {
  try {
    return JSON.parse(content) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /at position (\d+)/.exec(message);
    if (position === null) throw error;
    const before = content.slice(0, Number(position[1]));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    throw new Error(`${message} (line ${line}, column ${column})`);
  }
};

/**
 * import() for .js, .mjs and .cjs alike (a CommonJS module.exports arrives
 * as the default export). cosmiconfig's loader retries a failed import with
 * require(), and on Node 20.19+ that second failure ("Cannot require() ES
 * Module … not yet fully loaded") replaces the SyntaxError that matters.
 * Node caches modules by URL: a long-running process sees later edits to a
 * JS config only after a restart.
 */
export const loadJs: Loader = async (filepath) => {
  const href = pathToFileURL(await realpath(filepath)).href;
  try {
    const module = (await import(href)) as { default?: unknown };
    return module.default;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // CommonJS syntax errors carry "<file>:<line>" as the first stack line; ES modules carry no position on Node 20.
    const at = /^.*:(\d+)$/m.exec(error.stack?.split('\n')[0] ?? '');
    throw new Error(`SyntaxError: ${error.message}${at === null ? '' : ` (line ${at[1]})`}`);
  }
};
