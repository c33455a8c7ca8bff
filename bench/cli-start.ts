/**
 * How fast the CLI starts (issue 11), both figures measured side by side in
 * one run, on a real local fleet (PM2 under a temp PM2_HOME, the router under
 * that PM2, two versions of the sample service), 127.0.0.1 only:
 *
 *  (i)  `switchyard status --json` against `pm2 jlist` (the pm2 binary, same
 *       PM2_HOME, same fleet). Target: ratio ≤ 0.5.
 *  (ii) `switchyard --version` against `node -e 0`. Target: ratio ≤ 1.3.
 *
 *   npm run build && npm run bench:cli [-- --quick] [-- --runs <n>] [-- --out <file>]
 *
 * Timed with farm-bench when it is on PATH (whole processes, A and B in turn,
 * the ratio taken pair by pair, medians); otherwise with the same pairing
 * done here. Prints a Markdown table on stdout and writes the figures as
 * JSON (--out, or a file in the OS temp folder). Cleans up all it starts.
 * Exit code 0 when it ran (a missed target is reported, not failed), 1 when
 * it could not run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { BIN } from '../test/helpers/cli.js';
import { makeRolloutProject, PM2_BIN, ROOT, type RolloutProject } from '../test/helpers/rollout-project.js';
import { announceOurs, defaultJsonPath, fmt, log, mdTable, median, npmCommand, which, writeJson, type BenchJson, type SummaryRow } from './util.js';

const { values: flags } = parseArgs({ options: { quick: { type: 'boolean', default: false }, runs: { type: 'string' }, out: { type: 'string' } } });
const RUNS = flags.runs === undefined ? (flags.quick ? 5 : 20) : Number(flags.runs);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 100) {
  process.stderr.write(`--runs takes a whole number from 1 to 100, got ${flags.runs}\n`);
  process.exit(2);
}
if (!existsSync(join(ROOT, 'dist', 'cli.mjs'))) {
  process.stderr.write('bench:cli runs the built CLI: run `npm run build` first.\n');
  process.exit(2);
}

interface Pair {
  a: string;
  b: string;
  /** Median wall seconds of A and of B, and the median of the pairwise ratios A/B. */
  aSeconds: number;
  bSeconds: number;
  ratio: number;
  /** The same for CPU time (user + system): steadier than wall time on a busy machine. */
  cpuRatio: number;
  tool: string;
}

const FARM_BENCH = which('farm-bench');

function farmBench(a: string[], b: string[], env: NodeJS.ProcessEnv, cwd: string): Pair {
  const args = ['-n', String(RUNS), '--warmup', '2', '--timeout', '600', '--vs', b.join(' '), '--', ...a];
  const run = spawnSync(FARM_BENCH!, args, { cwd, env, encoding: 'utf8', timeout: 700_000 });
  const text = `${run.stdout}\n${run.stderr}`;
  const medianOf = (label: string) => {
    const line = text.split('\n').find((l) => l.startsWith(label));
    const cells = line?.trim().split(/\s+/) ?? [];
    return Number(cells.at(-2));
  };
  const pair = { a: a.join(' '), b: b.join(' '), aSeconds: medianOf('A wall s'), bSeconds: medianOf('B wall s'), ratio: medianOf('A/B wall'), cpuRatio: medianOf('A/B cpu'), tool: `farm-bench ${args.join(' ')}` };
  if (!Number.isFinite(pair.ratio)) throw new Error(`farm-bench gave no A/B wall line:\n${text}`);
  return pair;
}

/** The same pairing without farm-bench: A B A B …, medians. */
function ownPairs(a: string[], b: string[], env: NodeJS.ProcessEnv, cwd: string): Pair {
  const time = (cmd: string[]) => {
    const started = performance.now();
    const run = spawnSync(cmd[0]!, cmd.slice(1), { cwd, env, stdio: 'ignore', timeout: 30_000 });
    if (run.status !== 0) throw new Error(`${cmd.join(' ')} exited ${run.status ?? run.signal}`);
    return (performance.now() - started) / 1000;
  };
  // Children's CPU time is not read here (spawnSync does not report it): wall time only.
  for (let i = 0; i < 2; i++) time(a), time(b);
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    as.push(time(a));
    bs.push(time(b));
  }
  return { a: a.join(' '), b: b.join(' '), aSeconds: median(as), bSeconds: median(bs), ratio: median(as.map((x, i) => x / bs[i]!)), cpuRatio: NaN, tool: 'own paired loop (farm-bench not on PATH)' };
}

const measure = FARM_BENCH === undefined ? ownPairs : farmBench;

async function fleet(): Promise<RolloutProject> {
  const project = await makeRolloutProject({ versions: ['1.0.0', '1.1.0'], prefix: 'sy-bench-cli-' });
  announceOurs([project.dir, project.pm2Home]);
  await project.cli(['router', 'start'], { timeoutMs: 60_000 });
  await project.cliJson(['deploy', '1.0.0'], { timeoutMs: 60_000 });
  await project.cliJson(['deploy', '1.1.0', '--no-promote'], { timeoutMs: 60_000 });
  return project;
}

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  log('making the fleet: router under PM2, lobby 1.0.0 and 1.1.0');
  const project = await fleet();
  try {
    const env = { ...process.env, ...project.env, XDG_CACHE_HOME: join(project.dir, '.cache') } as NodeJS.ProcessEnv;
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    // The first status after the config changed does the full load (and remembers the router); warm it.
    const first = spawnSync(process.execPath, [BIN, 'status', '--json'], { cwd: project.dir, env, encoding: 'utf8' });
    const body = JSON.parse(first.stdout) as { router: { up: boolean }; services: Record<string, { processes: unknown[] }> };
    if (!body.router.up) throw new Error(`status says the router is down: ${first.stderr}`);
    const processes = Object.values(body.services).reduce((n, s) => n + s.processes.length, 0);
    log(`timing status --json against pm2 jlist (${RUNS} runs each)`);
    const status = measure([process.execPath, BIN, 'status', '--json'], [PM2_BIN, 'jlist'], env, project.dir);
    log(`timing --version against node -e 0 (${RUNS} runs each)`);
    const version = measure([process.execPath, BIN, '--version'], [process.execPath, '-e', '0'], env, project.dir);
    const ms = (s: number) => `${Math.round(s * 1000)} ms`;
    const cpu = (p: Pair) => (Number.isFinite(p.cpuRatio) ? `; CPU-time ratio ${fmt(p.cpuRatio)}` : '');
    const rows: SummaryRow[] = [
      { figure: '`switchyard status --json` vs `pm2 jlist`', measured: `${ms(status.aSeconds)} vs ${ms(status.bSeconds)} (medians of ${RUNS}, ${processes} policy processes + the router under PM2${cpu(status)})`, comparison: 'pm2 jlist, same PM2_HOME, same fleet, in turn', ratio: fmt(status.ratio), target: '≤ 0.50', result: status.ratio <= 0.5 ? 'met' : 'missed' },
      { figure: '`switchyard --version` vs `node -e 0`', measured: `${ms(version.aSeconds)} vs ${ms(version.bSeconds)} (medians of ${RUNS}${cpu(version)})`, comparison: 'node -e 0, in turn', ratio: fmt(version.ratio), target: '≤ 1.30', result: version.ratio <= 1.3 ? 'met' : 'missed' },
    ];
    const details = `${mdTable(['figure', 'measured', 'ratio (median of pairs)', 'target', 'result'], rows.map((r) => [r.figure, r.measured, r.ratio, r.target, r.result]))}\n\nTimed with: ${status.tool.replace(project.dir, '<fleet>')}; ${version.tool.replace(project.dir, '<fleet>')}\n`;
    process.stdout.write(`${details}\n`);
    const json: BenchJson = {
      schema: 1,
      bench: 'cli',
      startedAt,
      finishedAt: new Date().toISOString(),
      command: npmCommand('bench:cli'),
      settings: { runs: RUNS, timer: FARM_BENCH === undefined ? 'own paired loop' : 'farm-bench', processes },
      rows,
      notes: [],
      others: null,
      details,
      data: { status, version },
      ok: true,
    };
    process.stderr.write(`JSON: ${await writeJson(flags.out ?? defaultJsonPath('cli', startedAt), json)}\n`);
    return 0;
  } finally {
    await project.cleanup();
  }
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`bench:cli failed: ${(error as Error).stack ?? String(error)}\n`);
}
process.exit(code);
