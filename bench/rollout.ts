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
 *   npm run build && npm run bench:rollout [-- --quick] [-- --deploys <n>] [-- --runs <n>] [-- --out <file>]
 *
 * For (ii) the same loop also times, for the breakdown: `node -e 0` (Node's
 * own start-up), `switchyard --version` (the CLI frame, no project) and the
 * router's GET /v1/status alone (from this process).
 *
 * Prints a Markdown table on stdout (progress on stderr), and writes every
 * figure with its comparison, ratio, target and verdict as JSON (--out, or a
 * file in the OS temp folder). Cleans up all it starts: the router, the
 * service processes, the PM2 daemon (by pid), the temp folders; also on
 * Ctrl-C. Exit code: 0 when it ran (a missed target is reported, not
 * failed); 1 when a deploy failed or the benchmark could not run.
 */
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { signAsCli } from '../src/protocol/signing.js';
import { BIN as SWITCHYARD_BIN } from '../test/helpers/cli.js';
import { makeRolloutProject, PM2_BIN, ROOT, type RolloutProject } from '../test/helpers/rollout-project.js';
import { resolveVersion } from '../test/helpers/rollout-terminals.js';
import { announceOurs, CpuWatch, defaultJsonPath, fmt, fmtInt, log, mdTable, median, npmCommand, sleep, writeJson, type BenchJson, type SummaryRow } from './util.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    deploys: { type: 'string' },
    runs: { type: 'string' },
    out: { type: 'string' },
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
// process.on, not once: execa's signal-exit re-raises a signal that has no other listener left, which would end this process before its clean-up.
let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
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

/** GET /v1/status signed with the CLI's key, on a fresh connection (as the CLI does); resolves with the body's length. */
function getStatus(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(`${url}/v1/status`, { headers: signAsCli(token, 'GET', '/v1/status'), agent: false }, (response) => {
      let n = 0;
      response.on('data', (chunk: Buffer) => (n += chunk.length));
      response.on('end', () => (response.statusCode === 200 ? resolve(n) : reject(new Error(`GET /v1/status answered ${response.statusCode}`))));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

async function main(): Promise<BenchJson> {
  const startedAt = new Date().toISOString();
  const watch = new CpuWatch().start();
  const versions = Array.from({ length: DEPLOYS + 1 }, (_, i) => `1.${i}.0`);
  log(`making a project with ${versions.length} releases (${quick ? 'quick' : 'full'} run: ${DEPLOYS} deploys, ${RUNS} status runs)`);
  project = await makeRolloutProject({ versions, prefix: 'sy-bench-rollout-', portCount: 20 });
  const p = project;
  // Its PM2 daemon (and so the router and the services under it) is started with the helper's cleaned environment: name it by its folders.
  announceOurs([p.dir, p.pm2Home]);
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
  // The breakdown, timed in the same loop: Node alone, the CLI frame alone, the router's answer alone.
  const nodeMs: number[] = [];
  const versionMs: number[] = [];
  const routerMs: number[] = [];
  const plain = { cwd: p.dir, env, extendEnv: true, stdin: 'ignore', reject: false } as const;
  for (let i = 0; i < RUNS; i++) {
    statusMs.push(await timed(() => p.cliJson(['status'])));
    jlistMs.push(await timed(() => execa(PM2_BIN, ['jlist'], plain)));
    nodeMs.push(await timed(() => execa(process.execPath, ['-e', '0'], plain)));
    versionMs.push(await timed(() => execa(process.execPath, [SWITCHYARD_BIN, '--version'], plain)));
    const t0 = performance.now();
    await getStatus(p.routerUrl, p.token);
    routerMs.push(performance.now() - t0);
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

  // The same figures, structured.
  const overheads = deploys.map((d) => d.answeredMs - d.readyMs);
  const within = overheads.filter((o) => o <= DEPLOY_TARGET_MS).length;
  const worstRatio = worstOverhead / DEPLOY_TARGET_MS;
  const rows: SummaryRow[] = [
    {
      figure: 'Deploy → new version answering through the router',
      measured: `${fmtInt(answered)} ms after the deploy started, readiness ${fmtInt(ready)} ms: ${fmtInt(overhead)} ms beyond readiness (median of ${deploys.length}; worst ${fmtInt(worstOverhead)} ms; ${within} of ${deploys.length} within 500 ms)`,
      comparison: 'the readiness time each deploy measured itself (first probe → ready), same deploys',
      ratio: `${fmt(overhead / DEPLOY_TARGET_MS)} of the 0.5 s allowance (worst ${fmt(worstRatio)})`,
      target: 'every deploy ≤ readiness + 0.5 s',
      result: worstOverhead <= DEPLOY_TARGET_MS ? 'met' : 'missed',
    },
    {
      figure: 'Deploy: where the time beyond readiness goes',
      measured: `start → "starting" line ${fmtInt(median(deploys.map((d) => d.toStartMs)))} ms; "ready" line → router resolves ${fmtInt(median(deploys.map((d) => d.answeredMs - d.toReadyMs)))} ms (medians)`,
      comparison: 'CLI start-up, config, PM2 connect, port check / policy write and router reload',
      ratio: '—',
      target: '—',
      result: 'info',
    },
    {
      figure: '`switchyard status --json` vs `pm2 jlist`',
      measured: `${fmtInt(statusMedian)} vs ${fmtInt(jlistMedian)} ms (median of ${RUNS} each, alternating; ${processes} PM2 processes)`,
      comparison: 'status --json / pm2 jlist (the pm2 binary, same PM2_HOME), same fleet',
      ratio: fmt(ratio),
      target: `≤ ${fmt(STATUS_RATIO_TARGET)}`,
      result: ratio <= STATUS_RATIO_TARGET ? 'met' : 'missed',
    },
    {
      figure: 'status --json: the floor under it',
      measured: `\`node -e 0\` ${fmtInt(median(nodeMs))} ms; \`switchyard --version\` ${fmtInt(median(versionMs))} ms; GET /v1/status alone ${fmt(median(routerMs), 1)} ms (medians, same loop)`,
      comparison: '`switchyard --version` / pm2 jlist',
      ratio: fmt(median(versionMs) / jlistMedian),
      target: `— (the target allows ${fmtInt(jlistMedian * STATUS_RATIO_TARGET)} ms)`,
      result: 'info',
    },
  ];
  const detailRows = [
    ...deploys.map((d) => [`deploy ${d.version}`, fmtInt(d.answeredMs), fmtInt(d.readyMs), fmtInt(d.answeredMs - d.readyMs), fmtInt(d.toStartMs), fmtInt(d.answeredMs - d.toReadyMs), fmtInt(d.commandMs)]),
  ];
  const series = (xs: number[]) => xs.map((x) => fmtInt(x)).join(', ');
  const details = [
    `**Deploys on a local PM2 fleet** (the sample service, readiness on /healthz, heartbeat interval ${p.heartbeatMs} ms; each deploy promotes a new version and the previous one drains and is retired before the next; times in ms from the moment \`switchyard deploy\` is started)`,
    '',
    mdTable(['deploy', 'router resolves it', 'readiness', 'beyond readiness', '→ "starting" line', '"ready" line → resolves', 'command wall time'], detailRows),
    '',
    `**Status against pm2 jlist** (${RUNS} runs of each, alternating, ${processes} PM2 processes: the router, one live version; medians in ms, then every run)`,
    '',
    mdTable(['command', 'median', 'runs'], [
      ['`switchyard status --json`', fmtInt(statusMedian), series(statusMs)],
      ['`pm2 jlist`', fmtInt(jlistMedian), series(jlistMs)],
      ['`node -e 0`', fmtInt(median(nodeMs)), series(nodeMs)],
      ['`switchyard --version`', fmtInt(median(versionMs)), series(versionMs)],
      ['GET /v1/status (from the benchmark process, new connection)', fmt(median(routerMs), 1), routerMs.map((x) => fmt(x, 1)).join(', ')],
    ]),
    '',
  ].join('\n');
  return {
    schema: 1,
    bench: 'rollout',
    startedAt,
    finishedAt: new Date().toISOString(),
    command: npmCommand('bench:rollout'),
    settings: { deploys: DEPLOYS, 'status runs': RUNS, 'heartbeat interval': `${p.heartbeatMs} ms`, fleet: 'local PM2 under a temp PM2_HOME, router under PM2, the sample service' },
    rows,
    notes: quick ? [`--quick: ${DEPLOYS} deploys, ${RUNS} status runs. This checks that the benchmark runs; its figures are too few to quote.`] : [],
    others: watch.stop(),
    details,
    data: { deploys, statusMs, jlistMs, nodeMs, versionMs, routerMs, processes, heartbeatMs: p.heartbeatMs },
    ok: true,
  };
}

let failed = false;
try {
  const result = await main();
  await cleanup();
  result.finishedAt = new Date().toISOString();
  const path = await writeJson(flags.out ?? defaultJsonPath('rollout', result.startedAt), result);
  process.stdout.write(`JSON: ${path}\n`);
} catch (error) {
  failed = true;
  log(`failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
