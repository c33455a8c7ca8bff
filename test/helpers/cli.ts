import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BIN = resolve(import.meta.dirname, '../../bin/switchyard.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI the way a CI job would: no TTY on stdin, CI set, no
 * colour, a timeout so a hung command fails the test instead of the suite.
 */
export async function runCli(args: string[], opts: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<CliResult> {
  const result = await spawnCli(args, opts);
  if (result.timedOut) throw new Error(`switchyard ${args.join(' ')} timed out\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The same run as a child the caller holds (its pid, to kill it); the result says whether it was killed. */
export function spawnCli(args: string[], opts: { cwd: string; env?: Record<string, string | undefined>; timeoutMs?: number }) {
  return execa('node', [BIN, ...args], {
    cwd: opts.cwd,
    env: { CI: 'true', NO_COLOR: '1', FORCE_COLOR: undefined, ...opts.env },
    extendEnv: true,
    stdin: 'ignore',
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
}

/** A fresh temp folder, and a function that removes it. */
export async function tempDir(prefix = 'switchyard-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
