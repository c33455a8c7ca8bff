/**
 * The bundle's entry (dist/cli.mjs, see scripts/bundle-cli.mjs), loaded by
 * bin/switchyard.js for everything but `--version`. Each path loads only
 * what it needs: `status` tries its fast path (fast-status.ts), and
 * everything else loads commander and the command table (main.ts), which
 * load each command lazily.
 */
export async function run(argv: string[]): Promise<void> {
  if (argv[2] === 'status') {
    const { fastStatus } = await import('./fast-status.js');
    if (await fastStatus(argv, process.env, process.cwd())) return;
  }
  const { main } = await import('./main.js');
  await main(argv);
}
