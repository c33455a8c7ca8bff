/**
 * The bundle's entry (dist/cli.mjs, see scripts/bundle-cli.mjs), loaded by
 * bin/switchyard.js for every command but the quick paths it answers itself
 * (`--version`, and `status` when the router answers: dist/cli-fast.cjs).
 * It loads commander and the command table (main.ts), which load each
 * command lazily.
 */
export async function run(argv: string[]): Promise<void> {
  const { main } = await import('./main.js');
  await main(argv);
}
