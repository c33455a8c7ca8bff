/**
 * Several routers on Redis (issue 13), not a test: `npm run bench:routers [-- flags]`.
 *
 * One real redis-server (AOF, appendfsync always) and real routers
 * (`switchyard router run`, no PM2 daemon) on one project; in each round,
 * first 1 router, then 3, the same figures:
 *
 *  - heartbeat ingest, fleet-wide: N processes named in the policy send
 *    signed heartbeats over keep-alive connections (load in child processes,
 *    bench/routers/load.ts), process i to router i mod R. Accepted/s, then
 *    every router's /v1/status tally must equal the sum of every process's
 *    last heartbeat, and the accepted counters the number of 204s. Also the
 *    CPU per heartbeat of routers, load and redis-server, and Redis's
 *    records written and read per second. Pinned (servers on CPU 0, load on
 *    CPU 1) and unpinned, in turn;
 *  - POST /v1/login, the load spread over the routers, pinned and unpinned;
 *  - policy write → every router's /healthz serves the new generation;
 *  - a heartbeat sent to one router → in every router's tally.
 *
 * Flags:
 *   --quick           1 s runs, one round, 2,000 processes (CI: checks that it runs)
 *   --write-docs      write the "Several routers on Redis" block of docs/performance.md
 *   --out <file>      where the JSON goes (default: a file in the OS temp folder)
 *   --duration <s>    seconds per load run (default 5; quick 1)
 *   --rounds <n>      rounds of 1 router then 3 (default 2; quick 1)
 *   --processes <n>   heartbeat processes in the policy (default 8000; quick 2000)
 *   --connections <n> load connections in all, spread over the routers (default 48)
 *   --unpinned        only the unpinned placement
 *
 * Without redis-server it prints one line saying what to install, writes a
 * JSON whose row says skipped, and exits 0. Exit code 1 when a check failed
 * (a tally not exact, failed requests) or it could not run.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { redisServerAvailable } from '../test/helpers/redis-server.js';
import { fleetPolicy, makeFleet, setRouters, stopFleet, writePolicy, LOBBY, type Fleet } from './routers/fleet.js';
import { heartbeatPropagation, ingestRun, loginRun, placeServers, policyPropagation, type Placement } from './routers/measure.js';
import { allowQuietWait } from './routers/run-load.js';
import { disturbed, DISTURBED_SHARE } from './routers/report.js';
import { publish, startRouter, stopRouter, type RouterHandle } from './router/http.js';
import { pin } from './routers/fleet.js';
import { detailTables, summaryRows, writeDocsBlock, type RoutersData } from './routers/report.js';
import { CpuWatch, defaultJsonPath, describeOthers, fmtInt, freePort, log, mdTable, npmCommand, runBench, which, writeJson, type BenchJson } from './util.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOCS = join(ROOT, 'docs', 'performance.md');

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'write-docs': { type: 'boolean', default: false },
    out: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    processes: { type: 'string' },
    connections: { type: 'string' },
    unpinned: { type: 'boolean', default: false },
  },
  strict: true,
});
const quick = flags.quick === true;
const number = (name: string, value: string | undefined, fallback: number): number => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`--${name} needs a positive number, not "${value}"\n`);
    process.exit(2);
  }
  return n;
};
const S = {
  durationS: number('duration', flags.duration, quick ? 1 : 5),
  rounds: Math.round(number('rounds', flags.rounds, quick ? 1 : 2)),
  processes: Math.round(number('processes', flags.processes, quick ? 2_000 : 8_000)),
  connections: Math.round(number('connections', flags.connections, 48)),
  workers: 2,
  intervalMs: 1000,
  // A stale window (30 s) longer than a load run can last (2 × its duration at most) plus the tally check.
  staleAfter: 30,
  policyWrites: quick ? 10 : 60,
  probes: quick ? 4 : 25,
};
const placements = flags.unpinned || which('taskset') === undefined ? [false] : [true, false];

let fleet: Fleet | undefined;
let alone: RouterHandle | undefined;
let scratch = '';
async function cleanup(): Promise<void> {
  if (alone !== undefined) await stopRouter(alone).catch(() => undefined);
  alone = undefined;
  if (fleet !== undefined) await stopFleet(fleet).catch(() => undefined);
  fleet = undefined;
  if (scratch !== '') await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanup().finally(() => process.exit(130)));

let retriesLeft = 0;

/** Runs a load; a run disturbed by other processes is run again (twice per figure, 8 times per benchmark at most). Every run is kept. */
async function measured<T extends { othersShare: number }>(what: string, run: () => Promise<T>, into: T[]): Promise<T> {
  for (let again = 0; ; again++) {
    const r = await run();
    into.push(r);
    if (!disturbed(r) || retriesLeft <= 0 || again >= 2) return r;
    retriesLeft--;
    log(`    other processes used ${Math.round(r.othersShare * 100)}% of the machine during ${what}: running it again (${retriesLeft} retries left)`);
  }
}

function output(json: BenchJson, text: string): Promise<string> {
  if (text !== '') process.stdout.write(`${text}\n`);
  return writeJson(flags.out ?? defaultJsonPath('routers', json.startedAt), json);
}

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  const command = npmCommand('bench:routers');
  const base = { schema: 1 as const, bench: 'routers' as const, startedAt, command, notes: [] as string[], others: null };
  if (!redisServerAvailable()) {
    // redisServerAvailable printed the one line that says what to install.
    const row = { figure: 'Several routers on Redis', measured: 'n/a', comparison: '—', ratio: 'n/a', target: '—', result: 'skipped' as const, note: 'redis-server is not installed (apt-get install redis-server)' };
    await output({ ...base, finishedAt: new Date().toISOString(), settings: {}, rows: [row], details: '', data: {}, ok: true }, '');
    return 0;
  }
  if (!existsSync(join(ROOT, 'dist', 'cli.mjs'))) throw new Error('dist/ is missing: run `npm run build` first');
  const notes = base.notes;
  if (quick) notes.push('--quick: 1 s runs, one round, 2,000 processes. This checks that the benchmark runs; do not quote its figures.');
  if (placements.length === 1) notes.push('Unpinned only (--unpinned, or taskset is missing).');
  const loadStart = loadavg()[0]!;
  const watch = new CpuWatch(1000).start();
  scratch = await mkdtemp(join(tmpdir(), 'sy-bench-routers-'));
  fleet = await makeFleet(scratch, S.intervalMs, S.staleAfter);
  const f = fleet;
  // The baseline: one router with no coordination, its policy on files (bench/router's set-up).
  alone = await startRouter(join(scratch, 'alone'), await freePort(), fleetPolicy(0, 0), []);
  const baseline = { token: alone.token, admin: f.admin, routers: [{ url: alone.url, pid: alone.child.pid }] };
  allowQuietWait(quick ? 0 : 120_000);
  retriesLeft = quick ? 0 : 8;
  const data: RoutersData = { intervalMs: S.intervalMs, ingest: [], login: [], policy: { '1': [], '3': [] }, heartbeat: { '1': [], '3': [] } };
  // Each ingest run's processes belong to a service of their own (hb1, hb2, …): fresh ids, seqs from 1.
  let runs = 0;
  let probeSeq = 0;
  for (let round = 1; round <= S.rounds; round++) {
    // No router on Redis meanwhile: idle, they would still read the shared records.
    await setRouters(f, 0);
    for (const pinned of placements) {
      pin([alone.child.pid], pinned ? '0' : `0-${cpus().length - 1}`);
      log(`round ${round}/${S.rounds}: one router alone on files, heartbeat ingest, ${pinned ? 'pinned' : 'unpinned'}, ${S.durationS} s`);
      const r = await measured('the baseline', async () => {
        const service = `hb${++runs}`;
        await publish(alone!, fleetPolicy(S.processes, 0, service), 30_000);
        return ingestRun(baseline, { pinned, workers: S.workers, connections: S.connections }, service, S.processes, S.durationS, 4 * S.intervalMs + 3000, true);
      }, data.ingest);
      log(`    ${fmtInt(r.rate)}/s, tally ${r.tallyExact && r.counterExact ? 'exact' : `NOT exact: ${r.tallyProblem}`}`);
    }
    for (const count of [1, 3] as const) {
      log(`round ${round}/${S.rounds}: ${count} router(s)`);
      await setRouters(f, count);
      await writePolicy(f, fleetPolicy(0, 0));
      placeServers(f, false);
      log(`  policy propagation, ${S.policyWrites} writes; heartbeat propagation, ${S.probes} probes`);
      data.policy[count].push(await policyPropagation(f, S.policyWrites));
      const hb = await heartbeatPropagation(f, S.probes, probeSeq);
      probeSeq = hb.seq;
      data.heartbeat[count].push(hb);
      for (const pinned of placements) {
        const p: Placement = { pinned, workers: S.workers, connections: S.connections };
        placeServers(f, pinned);
        log(`  logins, ${pinned ? 'pinned' : 'unpinned'}, ${S.durationS} s`);
        await measured('logins', () => loginRun(f, p, S.durationS, LOBBY), data.login);
      }
      for (const pinned of placements) {
        log(`  heartbeat ingest, ${pinned ? 'pinned' : 'unpinned'}, ${S.durationS} s (a policy with ${fmtInt(S.processes)} heartbeat processes first)`);
        const r = await measured('the ingest', async () => {
          const service = `hb${++runs}`;
          placeServers(f, false);
          await writePolicy(f, fleetPolicy(S.processes, 0, service));
          placeServers(f, pinned);
          return ingestRun(f, { pinned, workers: S.workers, connections: S.connections }, service, S.processes, S.durationS, 4 * S.intervalMs + 3000);
        }, data.ingest);
        log(`    ${fmtInt(r.rate)}/s, tally ${r.tallyExact && r.counterExact ? 'exact' : `NOT exact: ${r.tallyProblem}`}`);
      }
      placeServers(f, false);
    }
  }
  await cleanup();
  const others = watch.stop();
  const rows = summaryRows(data, placements);
  const failures = [...data.ingest.filter((r) => r.failed > 0 || !r.tallyExact || !r.counterExact).map((r) => r.tallyProblem ?? r.firstFailure), ...data.login.filter((r) => r.failed > 0).map((r) => r.firstFailure)];
  for (const fail of failures) notes.push(`Check failed: ${fail}`);
  notes.push(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}; load average ${loadStart.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end. Other processes meanwhile: ${describeOthers(others)}.`);
  const settings = {
    processes: S.processes, durationS: S.durationS, rounds: S.rounds, connections: S.connections, loadProcesses: S.workers,
    heartbeatInterval: `${S.intervalMs} ms`, staleAfter: S.staleAfter, placements: placements.map((p) => (p ? 'pinned' : 'unpinned')).join(' + '),
    policyWrites: S.policyWrites, probes: S.probes, redis: 'AOF on, appendfsync always',
  };
  const details = detailTables(data);
  const text = [
    `Run ${startedAt}, \`${command}\`. Each round: one router alone on files (the baseline), 1 router on Redis, then 3 (same project, same redis-server); medians of ${S.rounds} round(s). Before each load run the benchmark waits (${quick ? 'not in --quick' : '120 s at most in all'}) for other processes to use under ${DISTURBED_SHARE * 100}% of the machine; a run they disturbed anyway is run again (${quick ? 'not in --quick' : 'twice per figure, 8 times in all, at most'}) and left out of the medians when the same figure has an undisturbed run (column "others"). Heartbeat interval ${S.intervalMs} ms (shared records flushed every 100 ms, read every ${S.intervalMs / 4} ms), ${fmtInt(S.processes)} heartbeat processes, ${S.connections} load connections from ${S.workers} load processes, ${S.durationS} s per load run.`,
    '',
    mdTable(['figure', 'measured', 'compared with (same run)', 'ratio', 'target', 'result'], rows.map((r) => [r.figure, r.measured, r.comparison, r.ratio, r.target, r.result])),
    '',
    details,
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
  const json: BenchJson = { ...base, finishedAt: new Date().toISOString(), settings, rows, others, details, data: data as unknown as Record<string, unknown>, ok: failures.length === 0 };
  log(`JSON: ${await output(json, text)}`);
  if (flags['write-docs']) {
    await writeDocsBlock(DOCS, text);
    log(`wrote ${DOCS}`);
  }
  return json.ok ? 0 : 1;
}

runBench('bench:routers', main, cleanup);
