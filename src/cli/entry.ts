import { readPackageVersion } from './package-info.js';

/**
 * The bundle's entry (dist/cli.mjs, see scripts/bundle-cli.mjs). Each path
 * loads only what it needs: `--version` reads package.json and nothing else,
 * `status` tries its fast path (fast-status.ts), and everything else loads
 * commander and the command table (main.ts), which load each command lazily.
 */
export async function run(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(`${readPackageVersion()}\n`);
    return;
  }
  if (args[0] === 'status') {
    const { fastStatus } = await import('./fast-status.js');
    if (await fastStatus(argv, process.env, process.cwd())) return;
  }
  const { main } = await import('./main.js');
  await main(argv);
}
