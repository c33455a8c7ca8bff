#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json): Node runs a CommonJS script without starting
// its ES module loader, a good part of what `--version` and a status that
// the router answers cost. Everything else goes through the ES module bundle.
const args = process.argv.slice(2);

async function start() {
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    const { readFileSync } = require('node:fs');
    process.stdout.write(`${JSON.parse(readFileSync(require.resolve('../package.json'), 'utf8')).version}\n`);
    return;
  }
  if (args[0] === 'status' && (await require('../dist/cli-fast.cjs').fastStatus(process.argv, process.env, process.cwd()))) return;
  const { run } = await import('../dist/cli.mjs');
  await run(process.argv);
}

start().catch((error) => {
  process.stderr.write(`switchyard could not start: ${error && error.stack ? error.stack : error}\n`);
  process.exitCode = 1;
});
