/**
 * Bundles the CLI (run by `npm run build`, after tsc):
 *
 * - dist/cli-fast.cjs: `status` answered by the router (fast-status.ts), as
 *   one CommonJS file that bin/switchyard.js requires: no commander, zod,
 *   yaml, cosmiconfig or pm2, and no ES module loader.
 * - dist/cli.mjs: the entry for every other command, which loads
 *   dist/cli-chunks/main.mjs and its chunks (commander and the command
 *   table), split by esbuild so each command evaluates only the
 *   modules it imports: status never loads zod, only pm2-using commands load
 *   pm2, prompts load only when a question is asked.
 *
 * Bundled rather than tsc's tree because Node's ESM loader spends most of a
 * short command's time resolving and linking hundreds of small files.
 * pm2 stays outside: it is CommonJS that requires files by computed paths and
 * spawns its own scripts; it is imported dynamically anyway.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['pm2', 'typescript', 'ioredis'],
  // yaml's "node" export is CommonJS, and a split-off CommonJS chunk that is
  // imported dynamically only has a default export: take its ES module build.
  alias: { yaml: './node_modules/yaml/browser/index.js' },
  // CommonJS packages inside an ES module bundle call require() for Node's built-ins.
  banner: { js: "import { createRequire as __syCreateRequire } from 'node:module'; const require = __syCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
};

// Old chunks would pile up: their names carry a hash of their content.
rmSync(join(root, 'dist', 'cli-chunks'), { recursive: true, force: true });

/**
 * Modules dist/cli.mjs loads from the split build rather than holding
 * itself: the command table, and what only the status table needs (semver,
 * chalk and the node:tty it loads), which `status --json` never uses.
 */
const OUTSIDE = { 'main.js': 'main', 'status-view.js': 'status-view', 'context.js': 'context' };

await build({
  ...common,
  entryPoints: Object.fromEntries(Object.entries(OUTSIDE).map(([file, name]) => [name, `src/cli/${file.replace(/\.js$/, '.ts')}`])),
  outdir: 'dist/cli-chunks',
  outExtension: { '.js': '.mjs' },
  splitting: true,
});

const outside = {
  name: 'outside',
  setup(b) {
    b.onResolve({ filter: /^\.\/(main|status-view|context)\.js$/ }, (args) =>
      args.importer.startsWith(join(root, 'src', 'cli')) ? { path: `./cli-chunks/${OUTSIDE[args.path.slice(2)]}.mjs`, external: true } : undefined,
    );
  },
};

await build({
  ...common,
  entryPoints: ['src/cli/entry.ts'],
  outfile: 'dist/cli.mjs',
  plugins: [outside],
});

// The quick status path, as CommonJS for bin/switchyard.js (see there why).
await build({
  ...common,
  banner: {},
  format: 'cjs',
  entryPoints: ['src/cli/fast-status.ts'],
  outfile: 'dist/cli-fast.cjs',
  plugins: [outside],
});
