import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { captureStderr, type ChildTracker, waitExit } from '../../helpers/child-processes.js';
import { runCli } from '../../helpers/cli.js';
import type { BadArgv } from './bad-argv.js';
import type { BadConfig } from './bad-config.js';

/**
 * Running generated bad input through the CLI's surfaces and judging the
 * outcome: in-process (loadConfig from dist; main from dist in a runner
 * child, fixtures/cli-runner.mjs) for most inputs, a spawned
 * `node bin/switchyard.js` for a sample. Every outcome must be exit 2 (a
 * usage error) with a sentence on stderr: never a crash (stack trace,
 * "internal error", another exit code), never a hang.
 */

const DIST = join(import.meta.dirname, '..', '..', '..', 'dist');
const RUNNER = join(import.meta.dirname, '..', 'fixtures', 'cli-runner.mjs');
const STACK = /\n\s+at .+:\d+:\d+\)?/;

export interface Judged {
  label: string;
  problem?: string;
}

/** A sentence: a word, a space, another word, in a message of some length. */
function sentence(text: string): boolean {
  return text.length >= 15 && /[A-Za-z]{2,}\S*\s+\S*[A-Za-z]{2,}/.test(text);
}

// ---------------------------------------------------------------- config files, in process

export async function loadConfigsInProcess(dir: string, configs: BadConfig[], timeoutMs: number): Promise<Array<Judged & { file: string }>> {
  const { loadConfig } = (await import(pathToFileURL(join(DIST, 'config', 'load.js')).href)) as typeof import('../../../src/config/load.js');
  const { isSwitchyardError } = (await import(pathToFileURL(join(DIST, 'core', 'errors.js')).href)) as typeof import('../../../src/core/errors.js');
  const out: Array<Judged & { file: string }> = [];
  for (const [i, config] of configs.entries()) {
    const file = join(dir, `config-${i}.${config.ext}`);
    await writeFile(file, config.text);
    let timer: NodeJS.Timeout | undefined;
    let problem: string | undefined;
    try {
      const hung = new Promise<'hung'>((done) => (timer = setTimeout(() => done('hung'), timeoutMs)));
      const outcome = await Promise.race([loadConfig({ cwd: dir, configPath: file, env: {} }), hung]);
      problem = outcome === 'hung' ? 'hang' : 'accepted: loadConfig found nothing wrong';
    } catch (error) {
      if (!isSwitchyardError(error)) problem = `crash: ${(error as Error)?.stack ?? String(error)}`;
      else if (error.exitCode !== 2) problem = `exit code ${error.exitCode} (${error.code})`;
      else if (!error.message.includes(file)) problem = `the message does not name the file: ${error.message}`;
      else if (!sentence(error.message) || STACK.test(error.message) || error.message.includes('[object Object]')) problem = `not a clear sentence: ${error.message}`;
    } finally {
      clearTimeout(timer);
    }
    out.push({ label: config.label, file, ...(problem === undefined ? {} : { problem: `${problem}\n    for ${config.ext}: ${JSON.stringify(config.text.slice(0, 300))}` }) });
  }
  return out;
}

// ---------------------------------------------------------------- command lines, in process

export interface CliOutcome {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  threw?: string;
  hung?: boolean;
  left?: string[];
}

/** The verdict on one CLI outcome for bad input (in process or spawned). */
export function judgeCli(outcome: CliOutcome, args: string[]): string | undefined {
  if (outcome.hung) return 'hang';
  if (outcome.threw !== undefined) return `crash: ${outcome.threw.slice(0, 500)}`;
  if (/internal error/i.test(outcome.stderr) || STACK.test(outcome.stderr)) return `crash on stderr: ${outcome.stderr.slice(0, 500)}`;
  if (outcome.exitCode !== 2) return `exit ${outcome.exitCode}: ${outcome.stderr.slice(0, 300)}`;
  const line = outcome.stderr.split('\n').find((l) => l.startsWith('error: '));
  // A command group run without its subcommand answers with its usage on stderr, which is clear too.
  if (!(line !== undefined && sentence(line.slice(7))) && !/^Usage: switchyard/m.test(outcome.stderr)) return `no clear error on stderr: ${JSON.stringify(outcome.stderr.slice(0, 300))}`;
  if (args.includes('--json') && outcome.stdout.trim() !== '') {
    try {
      const body = JSON.parse(outcome.stdout) as { ok?: unknown; error?: unknown; message?: unknown };
      if (body.ok !== false || typeof body.error !== 'string' || typeof body.message !== 'string') return `--json printed ${outcome.stdout.slice(0, 200)}`;
    } catch {
      return `--json printed something that is not JSON: ${outcome.stdout.slice(0, 200)}`;
    }
  }
  if (outcome.left !== undefined && outcome.left.length > 0) return `a refused command left files behind: ${outcome.left.join(', ')}`;
  return undefined;
}

export interface ArgvInput extends BadArgv {
  dir: string;
}

/** Runs every input through main() in runner children (a fresh one after a hang or crash); returns one outcome per input. */
export async function runArgvInProcess(children: ChildTracker, work: string, inputs: ArgvInput[], env: Record<string, string | undefined>, timeoutMs: number): Promise<CliOutcome[]> {
  const file = join(work, 'argv-inputs.json');
  await writeFile(file, JSON.stringify(inputs.map((input) => ({ cwd: input.dir, args: input.args, mustStayEmpty: input.cwd === 'empty' }))));
  const outcomes: CliOutcome[] = [];
  while (outcomes.length < inputs.length) {
    const from = outcomes.length;
    const child = children.spawn(process.execPath, [RUNNER, file, String(from), String(timeoutMs)], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr = captureStderr(child);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const outcome = JSON.parse(line) as CliOutcome & { i: number };
      outcomes[outcome.i] = outcome;
    });
    const exit = await waitExit(child);
    await new Promise<void>((done) => (lines.once('close', () => done()), setTimeout(done, 1000)));
    if (outcomes.length === from) {
      // It died on this input without a word: a crash of the process.
      outcomes[from] = { exitCode: exit.code, stdout: '', stderr: stderr(), threw: `the runner died (${JSON.stringify(exit)}): ${stderr().slice(0, 500)}` };
    }
  }
  return outcomes;
}

// ---------------------------------------------------------------- a spawned sample

/** Spawns `node bin/switchyard.js` for each job, `concurrency` at a time. */
export async function spawnEach<T>(jobs: T[], concurrency: number, make: (job: T) => { args: string[]; cwd: string }, env: Record<string, string | undefined>, timeoutMs: number): Promise<CliOutcome[]> {
  const outcomes: CliOutcome[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < jobs.length) {
      const k = next++;
      const { args, cwd } = make(jobs[k]!);
      try {
        const r = await runCli(args, { cwd, env, timeoutMs });
        outcomes[k] = { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
      } catch (error) {
        outcomes[k] = { exitCode: null, stdout: '', stderr: '', hung: /timed out/.test((error as Error).message), threw: (error as Error).message };
      }
    }
  }));
  return outcomes;
}

/** "label ×count" per label, for the log. */
export function countByLabel(items: Array<{ label: string }>): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item.label, (counts.get(item.label) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([label, n]) => `${label} ×${n}`).join(', ');
}
