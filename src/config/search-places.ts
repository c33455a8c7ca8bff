/**
 * Where a config is looked for, in cosmiconfig's order (config-file.ts).
 * Its own module so the CLI's fast status path can find the file without
 * loading cosmiconfig.
 */
export const SEARCH_PLACES = [
  'package.json',
  '.switchyardrc',
  '.switchyardrc.json',
  '.switchyardrc.yaml',
  '.switchyardrc.yml',
  '.switchyardrc.js',
  '.switchyardrc.mjs',
  '.switchyardrc.cjs',
  'switchyard.config.json',
  'switchyard.config.yaml',
  'switchyard.config.yml',
  'switchyard.config.js',
  'switchyard.config.mjs',
  'switchyard.config.cjs',
];

/** TypeScript configs: found only to be refused with a clear message. */
export const TS_EXTENSIONS = ['.ts', '.mts', '.cts'];
export const TS_PLACES = ['switchyard.config', '.switchyardrc'].flatMap((base) => TS_EXTENSIONS.map((ext) => `${base}${ext}`));
