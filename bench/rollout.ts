/**
 * Rollout figures on a real local fleet (PM2 under a temp PM2_HOME, the
 * router under that PM2, the sample service), 127.0.0.1 only:
 *
 *  (i)  deploy → the new version answering through the router: from the
 *       moment `switchyard deploy <v>` is started until GET /v1/resolve of
 *       the router returns that version, against the readiness time the
 *       deploy itself measured. Target: at most readiness + 0.5 s.
 *  (ii) `switchyard status --json` wall time against `pm2 jlist` (the pm2
 *       binary, same PM2_HOME) on the same fleet, medians of N runs each,
 *       run alternately. Target: ratio at most 0.5.
 *
 *   npm run build && npm run bench:rollout [-- --quick] [-- --deploys <n>] [-- --runs <n>]
 *
 * Prints a Markdown table on stdout (progress on stderr). Cleans up all it
 * starts: the router, the service processes, the PM2 daemon (by pid), the
 * temp folders; also on Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { BIN as SWITCHYARD_BIN } from '../test/helpers/cli.js';
import { makeRolloutProject, PM2_BIN, ROOT, type RolloutProject } from '../test/helpers/rollout-project.js';
import { resolveVersion } from '../test/helpers/rollout-terminals.js';
import { fmt, log, median, sleep } from './util.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    deploys: { type: 'string' },
    runs: { type: 'string' },
  },
});
const quick = flags.quick === true;
function count(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a whole number above 0, got ${value}`);
  return n;
}
const DEPLOYS = count('deploys', flags.deploys, quick ? 2 : 5);
const RUNS = count('runs', flags.runs, quick ? 3 : 10);
const DEPLOY_TARGET_MS = 500;
const STATUS_RATIO_TARGET = 0.5;

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  process.stderr.write('bench:rollout runs the built CLI: run `npm run build` first.\n');
  process.exit(2);
}

/** The deploy's progress line for a ready process: "… lobby@1.1.0#0 ready in 234 ms" (or "ready on local in …"). */
const READY_LINE = /@\S+ ready(?: on \S+)? in (\d+) ?ms/;

interface DeployRun {
  version: string;
  /** deploy started → the router resolves the version. */
  answeredMs: number;
  /** The readiness wait the deploy measured (first probe → ready). */
  readyMs: number;
  /** The deploy command's wall time. */
  commandMs: number;
  /** deploy started → its "starting <process>" line (CLI start-up, config, PM2 connect, port). */
  toStartMs: number;
  /** deploy started → its "<process> ready" line. */
  toReadyMs: number;
}

let project: RolloutProject | undefined;
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (project?.cleanup() ?? Promise.resolve()).catch((error: Error) => log(`clean-up: ${error.message}`));
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function deployAndWatch(p: RolloutProject, version: string): Promise<DeployRun> {
  let answeredAt: number | undefined;
  let polling = true;
  const started = performance.now();
  const poller = (async () => {
    while (polling) {
      const r = await resolveVersion(p.routerUrl, p.service, version).catch(() => undefined);
      if (r?.status === 200 && r.body.version === version) {
        answeredAt = performance.now();
        return;
      }
      await sleep(2);
    }
  })();
  // Run the CLI directly (not through the helper) to timestamp its progress lines as they come.
  const child = execa(process.execPath, [SWITCHYARD_BIN, 'deploy', version], { cwd: p.dir, env: p.env, extendEnv: true, stdin: 'ignore', reject: false, timeout: 60_000 });
  let toStartMs = NaN;
  let toReadyMs = NaN;
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    const at = performance.now() - started;
    if (Number.isNaN(toStartMs) && /starting \S+@/.test(text)) toStartMs = at;
    if (Number.isNaN(toReadyMs) && READY_LINE.test(text)) toReadyMs = at;
  });
  const deploy = await child;
  const commandMs = performance.now() - started;
  if (deploy.exitCode !== 0) {
    polling = false;
    throw new Error(`deploy ${version} exited ${deploy.exitCode}: ${deploy.stderr}`);
  }
  // Without --json the deploy prints plain progress lines (no TTY): "… <id> ready in <n> ms".
  const readyMatch = READY_LINE.exec(String(deploy.stderr));
  if (readyMatch === null) throw new Error(`deploy ${version} printed no readiness time: ${deploy.stderr}`);
  const deadline = Date.now() + 10_000;
  while (answeredAt === undefined && Date.now() < deadline) await sleep(5);
  polling = false;
  await poller;
  if (answeredAt === undefined) throw new Error(`the router did not resolve ${version} within 10 s of the deploy`);
  return { version, answeredMs: answeredAt - started, readyMs: Number(readyMatch[1]), commandMs, toStartMs, toReadyMs };
}

async function timed(run: () => Promise<{ exitCode?: number }>): Promise<number> {
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  if (result.exitCode !== 0) throw new Error(`a timed command exited ${result.exitCode}`);
  return ms;
}

async function main(): Promise<void> {
  const versions = Array.from({ length: DEPLOYS + 1 }, (_, i) => `1.${i}.0`);
  log(`making a project with ${versions.length} releases (${quick ? 'quick' : 'full'} run: ${DEPLOYS} deploys, ${RUNS} status runs)`);
  project = await makeRolloutProject({ versions, prefix: 'sy-bench-rollout-', portCount: 20 });
  const p = project;
  const started = await p.cli(['router', 'start']);
  if (started.exitCode !== 0) throw new Error(`router start: ${started.stderr}`);
  const first = await p.cliJson(['deploy', versions[0]!]);
  if (first.exitCode !== 0) throw new Error(`deploy ${versions[0]}: ${first.stderr}`);

  // (i) each deploy promotes a new version; the previous one drains (no terminals) and is retired.
  const deploys: DeployRun[] = [];
  for (const version of versions.slice(1)) {
    const run = await deployAndWatch(p, version);
    deploys.push(run);
    log(`deploy ${version}: answering after ${Math.round(run.answeredMs)} ms (readiness ${run.readyMs} ms, command ${Math.round(run.commandMs)} ms)`);
    // Let the drain controller retire the previous version, so every deploy starts from one live version.
    const previous = versions[versions.indexOf(version) - 1]!;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const policy = await p.policy();
      if (policy.services[p.service].processes.every((q: any) => q.version !== previous || q.state === 'retired')) break;
      await sleep(50);
    }
  }

  // (ii) the same fleet: the router, one live version, the retired ones in the policy.
  const env = p.env;
  await execa(PM2_BIN, ['jlist'], { cwd: p.dir, env, extendEnv: true, stdin: 'ignore' }); // first run may print a banner; not timed
  await p.cliJson(['status']);
  const statusMs: number[] = [];
  const jlistMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    statusMs.push(await timed(() => p.cliJson(['status'])));
    jlistMs.push(await timed(() => execa(PM2_BIN, ['jlist'], { cwd: p.dir, env, extendEnv: true, stdin: 'ignore', reject: false })));
  }
  const status = await p.cliJson(['status']);
  if (status.json.router?.up !== true) throw new Error('status did not come from the router');
  const processes = (await p.pm2Jlist()).length;

  const answered = median(deploys.map((d) => d.answeredMs));
  const ready = median(deploys.map((d) => d.readyMs));
  const overhead = median(deploys.map((d) => d.answeredMs - d.readyMs));
  const worstOverhead = Math.max(...deploys.map((d) => d.answeredMs - d.readyMs));
  const statusMedian = median(statusMs);
  const jlistMedian = median(jlistMs);
  const ratio = statusMedian / jlistMedian;
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed');

  const [l1] = loadavg();
  const lines = [
    `### switchyard rollout benchmark (${quick ? 'quick' : 'full'} run)`,
    '',
    `${cpus().length} cores, Node ${process.version}, load average ${fmt(l1 ?? 0)} at the end; heartbeat interval ${p.heartbeatMs} ms; \`npm run bench:rollout${quick ? ' -- --quick' : ''}\``,
    '',
    '| figure | measured | target | |',
    '| --- | --- | --- | --- |',
    `| (i) deploy → router resolves the new version, median of ${deploys.length} | ${Math.round(answered)} ms | ≤ readiness + ${DEPLOY_TARGET_MS} ms | |`,
    `| (i) readiness the deploy measured, median | ${Math.round(ready)} ms | | |`,
    `| (i) time beyond readiness, median (worst) | ${Math.round(overhead)} ms (${Math.round(worstOverhead)} ms) | ≤ ${DEPLOY_TARGET_MS} ms | ${verdict(overhead <= DEPLOY_TARGET_MS)} |`,
    `| (i) of which: start → "starting" line (CLI start-up, config, PM2 connect), median | ${Math.round(median(deploys.map((d) => d.toStartMs)))} ms | | |`,
    `| (i) of which: "ready" line → router resolves (policy write, router reload), median | ${Math.round(median(deploys.map((d) => d.answeredMs - d.toReadyMs)))} ms | | |`,
    `| (i) deploy command wall time, median | ${Math.round(median(deploys.map((d) => d.commandMs)))} ms | | |`,
    `| (ii) \`switchyard status --json\`, median of ${RUNS} | ${Math.round(statusMedian)} ms | | |`,
    `| (ii) \`pm2 jlist\`, median of ${RUNS} | ${Math.round(jlistMedian)} ms | | |`,
    `| (ii) ratio status / jlist (${processes} PM2 processes) | ${fmt(ratio)} | ≤ ${STATUS_RATIO_TARGET} | ${verdict(ratio <= STATUS_RATIO_TARGET)} |`,
    '',
    `Each deploy: ${deploys.map((d) => `${d.version} ${Math.round(d.answeredMs)}/${d.readyMs} ms`).join(', ')} (answering/readiness).`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  log(`failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
