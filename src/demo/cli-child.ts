import { createRequire } from 'node:module';
import { execa } from 'execa';
import { failedError } from '../core/errors.js';
import { packageFile } from '../package-root.js';

const BIN = packageFile('bin/switchyard.js');

/**
 * Runs switchyard's own CLI as a child process, the way a person or a CI
 * job would, and returns its JSON result.
 */
export async function switchyard(args: string[], opts: { configFile: string; pm2Home: string; timeoutMs?: number }): Promise<Record<string, unknown>> {
  const result = await execa(process.execPath, [BIN, ...args, '--config', opts.configFile, '--json', '--yes'], {
    env: { PM2_HOME: opts.pm2Home, NO_COLOR: '1' },
    stdin: 'ignore',
    reject: false,
    timeout: opts.timeoutMs ?? 60_000,
    killSignal: 'SIGKILL',
  });
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(String(result.stdout)) as Record<string, unknown>;
  } catch {
    // Not JSON: the exit code and stderr say what happened.
  }
  if (result.exitCode !== 0) {
    throw failedError('demo_step_failed', `switchyard ${args.join(' ')} failed (${result.timedOut ? 'timed out' : `exit ${result.exitCode}`}): ${String(body.message ?? result.stderr).trim()}`);
  }
  return body;
}

/** Stops the demo's PM2 daemon with PM2's own CLI (the API would keep this process alive afterwards). */
export async function killPm2Daemon(pm2Home: string): Promise<void> {
  const pm2Bin = createRequire(import.meta.url).resolve('pm2/bin/pm2');
  await execa(process.execPath, [pm2Bin, 'kill'], { env: { PM2_HOME: pm2Home }, stdin: 'ignore', reject: false, timeout: 30_000 });
}
