/**
 * The router benchmark (not a test): `npm run bench:router [-- flags]`.
 *
 * In one run, alternating the targets round by round (A B C ... A B C ...)
 * and taking the median: a direct backend, switchyard's proxy, switchyard's
 * resolve, nginx proxying by a map on the version header, nginx answering a
 * fixed JSON body, and switchyard's undici proxy against a node:http one.
 * Then resolve cost against policy size, heartbeat ingestion (in-process and
 * over HTTP, tallies checked exactly) and policy propagation. Prints a
 * Markdown summary, writes every figure to a JSON file, and with
 * --write-docs updates docs/performance.md.
 *
 * Flags:
 *   --quick            1 s runs, one round, smaller counts (CI: checks that it runs)
 *   --write-docs       update the router's generated block of docs/performance.md, if it has
 *                      one (it now holds the combined table: use `npm run bench -- --write-docs`)
 *   --out <file>       where the JSON goes (default: a file in the OS temp folder)
 *   --duration <s>     seconds per load run (default 5; quick 1)
 *   --rounds <n>       rounds of the load rows (default 3; quick 1)
 *   --connections <n>  load connections (default 32)
 *   --threads <n>      wrk threads (default 2)
 *   --pin              taskset: load generator on CPU 1, servers on CPU 0
 *   --keep             keep the scratch folder (configs, logs)
 *   --from-json <file> render a saved JSON again (with --write-docs: into the docs) without running
 *   --without <list>   act as if these tools were missing (nginx, wrk): checks the fallbacks
 *
 * On a shared machine, each load run and phase first waits for a quiet
 * moment (other processes under 10% of the CPU; 60 s of waiting at most per
 * benchmark), records how much CPU other processes used during it, and a
 * disturbed load run is run again (8 times at most) and left out of the
 * median when the target has an undisturbed run. Not in --quick.
 *
 * Exit code: 0 when the benchmark ran (missed targets are reported, not
 * failed); 1 when a correctness check failed (a tally off, errors under
 * load) or the benchmark could not run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, hostname, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchHeartbeatIngest, benchResolveSizes, prng } from './router/inprocess.js';
import { autocannonTool, wrkTool, type LoadResult, type LoadSpec, type LoadTool } from './router/load.js';
import { startNginx, stopNginx } from './router/nginx.js';
import type { Policy } from '../dist/core/policy-schema.js';
import { basePolicy, sizedPolicy } from './router/policies.js';
import { renderMarkdown, writeDocs, type Results, type Row, type TargetResult } from './router/report.js';
import { benchHeartbeatHttp, benchPropagation, heartbeatService, publish, startRouter, stopRouter, HB_SERVICE, type RouterHandle } from './router/http.js';
import { BACKEND_BODY_TEXT } from './router/backend-body.js';
import { commandOutput, cpuSnapshot, fmt, fmtInt, freePort, httpGet, log, median, othersCpu, sleep, spawnChild, stopChild, which, type Child } from './util.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VERSION = '1.0.0';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'write-docs': { type: 'boolean', default: false },
    out: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    threads: { type: 'string' },
    pin: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    without: { type: 'string', default: '' },
    'from-json': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (flags.help) {
  const text = await readFile(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${text.slice(text.indexOf('/**') + 4, text.indexOf('*/')).replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`--${name} needs a positive number, not "${value}"\n`);
    process.exit(2);
  }
  return n;
}

const quick = flags.quick === true;
const without = new Set((flags.without ?? '').split(',').map((x) => x.trim()).filter(Boolean));
const S = {
  durationS: positive('duration', flags.duration, quick ? 1 : 5),
  rounds: Math.round(positive('rounds', flags.rounds, quick ? 1 : 3)),
  warmupS: quick ? 0 : 1,
  connections: Math.round(positive('connections', flags.connections, 32)),
  threads: Math.round(positive('threads', flags.threads, 2)),
  resolveCalls: quick ? 20_000 : 100_000,
  resolveRounds: quick ? 1 : 5,
  heartbeats: quick ? 20_000 : 200_000,
  heartbeatProcesses: 1_000,
  hbHttpClients: 32,
  hbHttpProcesses: 128,
  hbHttpSeconds: quick ? 1 : 5,
  resolveHttpSeconds: quick ? 1 : 3,
  resolveHttpRounds: quick ? 1 : 2,
  propagationWrites: quick ? 20 : 100,
  propagationLargeWrites: quick ? 3 : 20,
};

const notes: string[] = [];
const children: Child[] = [];
let router: RouterHandle | undefined;
let nginx: Child | undefined;
let scratch = '';
let correctnessOk = true;
let keepScratch = flags.keep === true;

async function cleanup(): Promise<void> {
  if (nginx !== undefined) await stopNginx(nginx).catch(() => undefined);
  nginx = undefined;
  if (router !== undefined) {
    await stopRouter(router).catch(() => undefined);
    // If a future router ever starts a PM2 daemon in our scratch PM2 home, end it by its pid.
    const pid = Number((await readFile(join(router.pm2Home, 'pm2.pid'), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // not running
      }
    }
  }
  router = undefined;
  for (const child of children.splice(0)) await stopChild(child).catch(() => undefined);
  if (scratch !== '' && !keepScratch) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}

// process.on, not once: a library's signal-exit handler re-raises a signal that has no other listener left, which would end this process before its clean-up.
let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (signalled) return;
    signalled = true;
    log(`${signal}: stopping what the benchmark started`);
    void cleanup().finally(() => process.exit(130));
  });
}

function machineInfo(wrkVersion: string | undefined, nginxVersion: string | undefined, tool: LoadTool | undefined): Record<string, string> {
  const cpu = cpus();
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  };
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free at start)`,
    os: `Linux ${release()}`,
    host: hostname(),
    node: process.version,
    undici: pkg('undici'),
    nginx: nginxVersion ?? 'not installed',
    wrk: wrkVersion ?? 'not installed',
    'load generator': tool === undefined ? 'none' : `${tool.name} ${tool.version}`,
  };
}

async function pickLoadTool(): Promise<{ tool: LoadTool | undefined; wrkVersion: string | undefined }> {
  const wrk = without.has('wrk') ? undefined : which('wrk');
  if (wrk !== undefined) {
    const version = (commandOutput(wrk, ['-v']) ?? '').split('\n')[0]?.replace(/^wrk\s+/, '').replace(/\s+Copyright.*$/, '') ?? '?';
    return { tool: wrkTool(wrk, version, scratch, flags.pin ? ['taskset', '-c', '1'] : []), wrkVersion: version };
  }
  notes.push('wrk is not installed (apt-get install -y wrk): the load rows used autocannon, in the benchmark process itself, so figures are lower than with wrk and not comparable to a wrk run.');
  const tool = await autocannonTool();
  if (tool === undefined) notes.push('autocannon could not be loaded either (run npm ci): every HTTP load row is skipped.');
  return { tool, wrkVersion: undefined };
}

async function startServer(kind: string, port: number, upstream: number | undefined, prefix: string[]): Promise<Child> {
  const args = [...prefix, process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'router', 'servers.ts'), kind, String(port), ...(upstream === undefined ? [] : [String(upstream)])];
  const child = await spawnChild(kind, args[0]!, args.slice(1), { cwd: ROOT, readyText: 'ready', stderr: 'inherit' });
  children.push(child);
  return child;
}

/** Throws if a server the benchmark started has gone (something else on the machine may have killed it). */
async function assertAlive(): Promise<void> {
  const all = [...children, ...(router ? [router.child] : []), ...(nginx ? [nginx] : [])];
  for (const c of all) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) continue;
    let tail = '';
    if (router !== undefined && c === router.child) {
      tail = (await readFile(join(router.dir, 'router.log'), 'utf8').catch(() => '')).split('\n').slice(-8).join('\n');
    }
    throw new Error(`${c.name} (pid ${c.pid}) exited during the run (code ${c.proc.exitCode}, signal ${c.proc.signalCode}): the figures would be wrong, so the run stops.${tail ? `\nLast lines of its log:\n${tail}` : ''}`);
  }
}

let routerRestarts = 0;
let serverPrefixForRestart: string[] = [];

/** Gone, or no longer answering /healthz (a router told to stop closes its listener at once). */
async function routerDead(): Promise<boolean> {
  if (router === undefined) return false;
  if (router.child.proc.exitCode !== null || router.child.proc.signalCode !== null) return true;
  try {
    const res = await Promise.race([httpGet(`${router.url}/healthz`), sleep(3_000).then(() => undefined)]);
    return res === undefined || res.status !== 200;
  } catch {
    return true;
  }
}

/**
 * On a shared machine something else may stop the router (twice seen here:
 * a SIGINT from another process). Notes it, starts a fresh router serving
 * `policy` (at most twice per benchmark), and returns true so the caller runs
 * the disturbed step again; false when the router is fine.
 */
async function reviveRouter(what: string, policy: Policy, targets: TargetResult[] = []): Promise<boolean> {
  if (router === undefined || !(await routerDead())) return false;
  const old = router;
  await stopRouter(old).catch(() => undefined);
  const tail = (await readFile(join(old.dir, 'router.log'), 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' / ');
  if (routerRestarts >= 2) throw new Error(`the router (pid ${old.child.pid}) was stopped from outside a third time, during ${what}: giving up. Its log ends: ${tail}`);
  routerRestarts++;
  notes.push(`The router (pid ${old.child.pid}) was stopped from outside during ${what}, not by the benchmark (its log ends: ${tail}); a new router was started and that step run again.`);
  log(`the router was stopped from outside during ${what}: starting a new one and running that step again`);
  router = await startRouter(join(scratch, `router-${routerRestarts}`), await freePort(), policy, serverPrefixForRestart);
  for (const t of targets) if (t.url.startsWith(old.url)) t.url = `${router.url}${t.url.slice(old.url.length)}`;
  return true;
}

/** Runs a step against the router; if the router was stopped from outside meanwhile, starts a new one and runs the step again. */
async function withRouter<T>(what: string, policy: Policy, step: (r: RouterHandle) => Promise<T>): Promise<T> {
  for (;;) {
    const outcome = await step(router!).catch((error: unknown) => error as Error);
    if (await reviveRouter(what, policy)) continue;
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }
}

function emptyTarget(key: string, label: string, url: string, skipped: string | null): TargetResult {
  return { key, label, url, runs: [], cleanRuns: 0, rps: NaN, p50ms: NaN, p99ms: NaN, socketErrors: 0, non2xx: 0, skipped };
}

function disturbed(r: LoadResult): boolean {
  return r.othersShare !== undefined && r.othersShare !== null && r.othersShare > MAX_OTHERS_SHARE;
}

/** The runs a median is taken over: the undisturbed ones when there are any, else all (and it says so). */
function usableRuns(runs: LoadResult[]): { use: LoadResult[]; clean: number } {
  const clean = runs.filter((r) => !disturbed(r));
  return { use: clean.length > 0 ? clean : runs, clean: clean.length };
}

function summarise(t: TargetResult): void {
  if (t.runs.length === 0) return;
  const { use, clean } = usableRuns(t.runs);
  t.cleanRuns = clean;
  t.rps = median(use.map((r) => r.rps));
  t.p50ms = median(use.map((r) => r.p50ms));
  t.p99ms = median(use.map((r) => r.p99ms));
  t.socketErrors = t.runs.reduce((n, r) => n + r.socketErrors, 0);
  t.non2xx = t.runs.reduce((n, r) => n + r.non2xx, 0);
}

const MAX_OTHERS_SHARE = 0.1;
let retriesLeft = 0;
let cores = 1;

let quietWaitLeftMs = 0;

/**
 * On a shared machine, waits (within a budget for the whole benchmark) until
 * processes outside the benchmark use under 10% of the CPU for half a second.
 */
async function waitQuiet(): Promise<void> {
  let logged = false;
  while (quietWaitLeftMs > 0) {
    const a = cpuSnapshot();
    const t0 = Date.now();
    await sleep(500);
    const b = cpuSnapshot();
    quietWaitLeftMs -= Date.now() - t0;
    if (a === undefined || b === undefined || othersCpu(a, b, cores).share <= MAX_OTHERS_SHARE) return;
    if (!logged) log(`  the machine is busy with other processes: waiting for a quiet moment (${Math.round(quietWaitLeftMs / 1000)} s of waiting left)`);
    logged = true;
  }
}

/** Runs a load and records how much CPU other processes took meanwhile; a disturbed run is run again (a few times per benchmark at most). */
async function measured(tool: LoadTool, s: LoadSpec): Promise<LoadResult[]> {
  const all: LoadResult[] = [];
  for (;;) {
    await waitQuiet();
    const a = cpuSnapshot();
    const r = await tool.run(s);
    const b = cpuSnapshot();
    r.othersShare = a && b ? othersCpu(a, b, cores).share : NaN;
    all.push(r);
    if (!disturbed(r) || retriesLeft <= 0) return all;
    retriesLeft--;
    log(`  other processes used ${(r.othersShare * 100).toFixed(0)}% of the machine during that run: running it again (${retriesLeft} re-runs left)`);
  }
}

/** Runs a phase and records the other processes' CPU share during it. */
async function phase<T extends { othersShare?: number }>(run: () => Promise<T> | T): Promise<T> {
  await waitQuiet();
  const a = cpuSnapshot();
  const r = await run();
  const b = cpuSnapshot();
  r.othersShare = a && b ? othersCpu(a, b, cores).share : NaN;
  return r;
}

function spec(url: string, durationS: number, paths?: string[]): LoadSpec {
  return { url, headers: { 'x-switchyard-version': VERSION }, connections: S.connections, threads: S.threads, durationS, ...(paths ? { paths } : {}) };
}

async function main(): Promise<number> {
  if (flags['from-json'] !== undefined) {
    const saved = JSON.parse(await readFile(flags['from-json'], 'utf8')) as Results;
    saved.rows = rows(saved);
    process.stdout.write(`${renderMarkdown(saved)}\n`);
    if (flags['write-docs']) docsNotWritten(await writeDocs(join(ROOT, 'docs', 'performance.md'), saved));
    return 0;
  }
  const startedAt = new Date().toISOString();
  if (!existsSync(join(ROOT, 'dist', 'router', 'router.js'))) {
    process.stderr.write('dist/ is missing: run `npm run build` (npm ci does it) first.\n');
    return 1;
  }
  scratch = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const serverPrefix = flags.pin ? ['taskset', '-c', '0'] : [];
  if (flags.pin && which('taskset') === undefined) {
    process.stderr.write('--pin needs taskset (util-linux)\n');
    return 2;
  }

  // How busy the machine is without us: one second with this process idle.
  cores = cpus().length;
  retriesLeft = quick ? 0 : 8;
  quietWaitLeftMs = quick ? 0 : 60_000;
  const quiet0 = cpuSnapshot();
  await sleep(1000);
  const quiet1 = cpuSnapshot();
  const before = quiet0 && quiet1 ? othersCpu(quiet0, quiet1, cores) : undefined;
  if (before !== undefined && before.share > 0.1) {
    log(`warning: other processes use ${(before.share * 100).toFixed(0)}% of the machine right now; figures will be low and noisy`);
  }

  if (quick) notes.push('--quick: 1 s runs, no warm-up, one round. This checks that the benchmark runs; its figures and verdicts are too noisy to compare or quote.');
  const { tool, wrkVersion } = await pickLoadTool();
  const nginxPath = without.has('nginx') ? undefined : (which('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined));
  const nginxVersion = nginxPath === undefined ? undefined : (commandOutput(nginxPath, ['-v']) ?? '').replace(/^nginx version:\s*/, '').trim();
  if (nginxPath === undefined) notes.push('nginx is not installed (apt-get install -y nginx): the nginx rows are skipped.');
  const machine = machineInfo(wrkVersion, nginxVersion, tool);
  const runStart = quiet1;

  const result: Results = {
    schema: 1,
    startedAt,
    finishedAt: '',
    command: `npm run bench:router${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine,
    settings: {
      'load runs': `${S.durationS} s each, ${S.rounds} round(s) alternating the targets, ${S.warmupS} s warm-up per target first`,
      connections: S.connections,
      'wrk threads': S.threads,
      pinned: flags.pin ? 'yes: load generator on CPU 1, servers on CPU 0' : 'no: load generator, router/nginx and backend share both cores',
      'nginx workers': 1,
      'resolve lookups': `${fmtInt(S.resolveCalls)} per size per round, ${S.resolveRounds} round(s)`,
      'heartbeats in-process': fmtInt(S.heartbeats),
      'propagation writes': `${S.propagationWrites} (+${S.propagationLargeWrites} of a 10,000-process policy)`,
    },
    targets: [],
    resolveSizes: [],
    resolveHttp: null,
    heartbeatInProcess: null,
    heartbeatHttp: null,
    propagation: null,
    propagationLarge: null,
    rows: [],
    notes,
    ok: true,
  };

  // 1. In-process figures first, on a quiet machine.
  log('resolve cost against policy size (in-process)…');
  const sizes = await phase(() => ({ list: benchResolveSizes([10, 1_000, 10_000], S.resolveCalls, S.resolveRounds) }) as { list: ReturnType<typeof benchResolveSizes>; othersShare?: number });
  result.resolveSizes = sizes.list.map((x) => ({ ...x, othersShare: sizes.othersShare ?? NaN }));
  log('heartbeat ingestion (in-process)…');
  result.heartbeatInProcess = await phase(() => benchHeartbeatIngest(S.heartbeats, S.heartbeatProcesses));
  if (!result.heartbeatInProcess.tallyExact) correctnessOk = false;

  // 2. The servers.
  log('starting the backend, the router, nginx and the two bare proxies…');
  const backendPort = await freePort();
  await startServer('backend', backendPort, undefined, serverPrefix);
  const routerPort = await freePort();
  serverPrefixForRestart = serverPrefix;
  router = await startRouter(join(scratch, 'router'), routerPort, basePolicy(backendPort), serverPrefix);
  const resolvePath = `/v1/resolve?service=bench&version=${VERSION}`;
  const resolveAnswer = await httpGet(`${router.url}${resolvePath}`);
  if (resolveAnswer.status !== 200) throw new Error(`resolve answered ${resolveAnswer.status}: ${resolveAnswer.body}`);
  let nginxProxyPort = 0;
  let nginxFixedPort = 0;
  if (nginxPath !== undefined) {
    nginxProxyPort = await freePort();
    nginxFixedPort = await freePort();
    try {
      nginx = await startNginx({ nginxPath, dir: join(scratch, 'nginx'), proxyPort: nginxProxyPort, fixedPort: nginxFixedPort, backendPort, version: VERSION, fixedBody: resolveAnswer.body, prefix: serverPrefix });
    } catch (error) {
      notes.push(`nginx did not start (${(error as Error).message}): the nginx rows are skipped.`);
    }
  }
  const undiciPort = await freePort();
  await startServer('proxy-undici', undiciPort, backendPort, serverPrefix);
  const nodePort = await freePort();
  await startServer('proxy-node', nodePort, backendPort, serverPrefix);

  const path = '/api/ping';
  const targets: TargetResult[] = [
    emptyTarget('direct', 'direct backend (node:http)', `http://127.0.0.1:${backendPort}${path}`, null),
    emptyTarget('proxy', 'switchyard proxy (router, by version header)', `${router.url}${path}`, null),
    emptyTarget('resolve', 'switchyard resolve (GET /v1/resolve)', `${router.url}${resolvePath}`, null),
    emptyTarget('nginxProxy', 'nginx proxy (map on version header, keepalive upstream)', `http://127.0.0.1:${nginxProxyPort}${path}`, nginx === undefined ? 'nginx not available' : null),
    emptyTarget('nginxFixed', 'nginx fixed JSON (return 200, same body as resolve)', `http://127.0.0.1:${nginxFixedPort}${resolvePath}`, nginx === undefined ? 'nginx not available' : null),
    emptyTarget('undici', 'bare proxy, undici (switchyard HttpProxy, no routing)', `http://127.0.0.1:${undiciPort}${path}`, null),
    emptyTarget('nodeHttp', 'bare proxy, node:http request + keep-alive Agent', `http://127.0.0.1:${nodePort}${path}`, null),
  ];
  result.targets = targets;
  if (tool === undefined) for (const t of targets) t.skipped ??= 'no load generator';

  // Every target answers what it should before any load.
  for (const t of targets.filter((x) => x.skipped === null)) {
    const answer = await httpGet(t.url, { 'x-switchyard-version': VERSION });
    const expected = t.key === 'resolve' || t.key === 'nginxFixed' ? resolveAnswer.body : BACKEND_BODY_TEXT;
    if (answer.status !== 200 || answer.body !== expected) {
      notes.push(`${t.label} answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 120))} before the load, not the expected body: skipped.`);
      t.skipped = `wrong answer (${answer.status})`;
      correctnessOk = false;
    }
  }

  // 3. The load rows, alternating.
  const live = targets.filter((t) => t.skipped === null);
  if (tool !== undefined && live.length > 0) {
    if (S.warmupS > 0) {
      log(`warm-up, ${S.warmupS} s per target…`);
      for (const t of live) await tool.run(spec(t.url, S.warmupS));
    }
    for (let round = 1; round <= S.rounds; round++) {
      for (const t of live) {
        log(`round ${round}/${S.rounds}: ${t.label}, ${S.durationS} s…`);
        let runs = await measured(tool, spec(t.url, S.durationS)).catch((error: unknown) => error as Error);
        while (await reviveRouter(`round ${round} of ${t.label}`, basePolicy(backendPort), targets)) {
          await tool.run(spec(t.url, Math.max(1, S.warmupS)));
          runs = await measured(tool, spec(t.url, S.durationS)).catch((error: unknown) => error as Error);
        }
        if (runs instanceof Error) throw runs;
        await assertAlive();
        t.runs.push(...runs);
        const r = runs[runs.length - 1]!;
        log(`  ${fmtInt(r.rps)} req/s, p50 ${fmt(r.p50ms)} ms, p99 ${fmt(r.p99ms)} ms${r.socketErrors + r.non2xx > 0 ? `, ${r.socketErrors} socket errors, ${r.non2xx} non-2xx` : ''}`);
        await sleep(200);
      }
    }
    for (const t of live) summarise(t);

    // 4. Resolve over HTTP against policy size.
    log('resolve over HTTP, 10 vs 10,000 processes…');
    const sized = [10, 10_000].map((n) => {
      const sp = sizedPolicy(n);
      const rand = prng(n + 1);
      const paths = Array.from({ length: 1000 }, () => {
        const s = sp.served[Math.floor(rand() * sp.served.length)]!;
        return `/v1/resolve?service=${s.service}&version=${s.version}`;
      });
      return { n, policy: sp.policy, paths, runs: [] as LoadResult[] };
    });
    for (let round = 0; round < S.resolveHttpRounds; round++) {
      for (const s of sized) {
        let runs: LoadResult[] | Error;
        do {
          runs = await (async () => {
            await publish(router!, s.policy, 20_000);
            await tool.run(spec(`${router!.url}${s.paths[0]}`, 1, s.paths));
            return measured(tool, spec(`${router!.url}${s.paths[0]}`, S.resolveHttpSeconds, s.paths));
          })().catch((error: unknown) => error as Error);
        } while (await reviveRouter(`resolve over HTTP at ${fmtInt(s.n)} processes`, basePolicy(backendPort)));
        if (runs instanceof Error) throw runs;
        await assertAlive();
        s.runs.push(...runs);
        const r = runs[runs.length - 1]!;
        log(`  ${fmtInt(s.n)} processes: ${fmtInt(r.rps)} req/s${r.non2xx + r.socketErrors > 0 ? `, ${r.non2xx} non-2xx, ${r.socketErrors} socket errors` : ''}`);
        if (r.non2xx + r.socketErrors > 0) correctnessOk = false;
      }
    }
    result.resolveHttp = sized.map((s) => {
      const { use, clean } = usableRuns(s.runs);
      return { processes: s.n, runs: s.runs, cleanRuns: clean, rps: median(use.map((x) => x.rps)), p50ms: median(use.map((x) => x.p50ms)), p99ms: median(use.map((x) => x.p99ms)) };
    });
  }

  // 5. Heartbeats over HTTP (needs the hb service in the policy, for /v1/status).
  const withHb = basePolicy(backendPort, { [HB_SERVICE]: heartbeatService(S.hbHttpProcesses) });
  log(`heartbeats over HTTP, ${S.hbHttpClients} clients, ${S.hbHttpSeconds} s…`);
  result.heartbeatHttp = await withRouter('the heartbeats over HTTP', withHb, async (r) => {
    await publish(r, withHb);
    return phase(() => benchHeartbeatHttp(r, S.hbHttpClients, S.hbHttpProcesses, S.hbHttpSeconds));
  });
  log(`  ${fmtInt(result.heartbeatHttp.rate)}/s, tally exact: ${result.heartbeatHttp.tallyExact}, counter exact: ${result.heartbeatHttp.counterExact}`);
  if (result.heartbeatHttp.problem !== null) correctnessOk = false;

  // 6. Policy propagation: small policy, then a 10,000-process one.
  log(`policy propagation, ${S.propagationWrites} writes…`);
  const other = basePolicy(backendPort, {
    [HB_SERVICE]: heartbeatService(S.hbHttpProcesses),
    extra: { target: '1.0.1', processes: [{ id: 'extra@1.0.1#0', version: '1.0.1', address: '127.0.0.1', port: 29_999, state: 'active' }] },
  });
  result.propagation = await withRouter('the policy propagation', withHb, (r) => phase(() => benchPropagation(r, [other, withHb], S.propagationWrites, 1 + S.hbHttpProcesses)));
  log(`  p50 ${fmt(result.propagation.endToEnd.p50)} ms, p99 ${fmt(result.propagation.endToEnd.p99)} ms`);
  log(`policy propagation, 10,000-process policy, ${S.propagationLargeWrites} writes…`);
  const big = sizedPolicy(10_000).policy;
  const big2 = sizedPolicy(10_000, 11_000).policy;
  result.propagationLarge = await withRouter('the propagation of the 10,000-process policy', withHb, (r) => phase(() => benchPropagation(r, [big, big2], S.propagationLargeWrites, 10_000)));
  log(`  p50 ${fmt(result.propagationLarge.endToEnd.p50)} ms, p99 ${fmt(result.propagationLarge.endToEnd.p99)} ms`);

  const routerLog = await readFile(join(router!.dir, 'router.log'), 'utf8').catch(() => '');
  const internal = routerLog.split('\n').filter((l) => l.includes('internal error'));
  if (internal.length > 0) {
    notes.push(`the router logged ${internal.length} internal errors, first: ${internal[0]}`);
    correctnessOk = false;
  }
  await cleanup();
  const runEnd = cpuSnapshot();
  const during = runStart && runEnd ? othersCpu(runStart, runEnd, cores) : undefined;
  const pct = (x: { share: number } | undefined) => (x === undefined ? 'unknown' : `${(x.share * 100).toFixed(1)}%`);
  machine['CPU used by other processes'] = `${pct(before)} of the machine just before the run, ${pct(during)} during it${during ? ` (${during.seconds.toFixed(1)} CPU-s)` : ''}`;
  if (during !== undefined && during.share > 0.05) {
    notes.push(`Other processes on the machine used ${pct(during)} of its CPU over the whole run (${during.seconds.toFixed(1)} CPU-seconds). Load runs they disturbed (over 10%, in [brackets]) were run again and left out of the medians where an undisturbed run exists; figures marked NO UNDISTURBED RUN are lower and noisier than on a quiet machine.`);
  }

  result.finishedAt = new Date().toISOString();
  result.rows = rows(result);
  for (const t of targets) {
    const total = t.runs.reduce((n, r) => n + r.requests, 0);
    if (total > 0 && (t.socketErrors + t.non2xx) / total > 0.001) {
      notes.push(`${t.label}: ${t.socketErrors} socket errors and ${t.non2xx} non-2xx answers in ${fmtInt(total)} requests.`);
      correctnessOk = false;
    }
  }
  result.ok = correctnessOk;

  const json = JSON.stringify(result, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2);
  const outPath = flags.out ?? join(tmpdir(), 'switchyard-bench', `router-${startedAt.replace(/[:.]/g, '-')}.json`);
  await mkdir(dirname(resolve(outPath)), { recursive: true });
  await writeFile(outPath, `${json}\n`);
  process.stdout.write(`\n${renderMarkdown(result)}\n`);
  process.stdout.write(`JSON: ${outPath}\n`);
  if (flags['write-docs']) {
    const docs = join(ROOT, 'docs', 'performance.md');
    if (await writeDocs(docs, result)) process.stdout.write(`updated ${docs}\n`);
    else docsNotWritten(false);
  }
  if (!result.ok) process.stdout.write('\nA CORRECTNESS CHECK FAILED (see the notes above): exit 1.\n');
  return result.ok ? 0 : 1;
}

/** The summary rows: figure, measured, comparison, ratio, target, result. */
function rows(r: Results): Row[] {
  const out: Row[] = [];
  const t = (key: string) => r.targets.find((x) => x.key === key);
  const usable = (x: TargetResult | undefined): x is TargetResult => x !== undefined && x.skipped === null && x.runs.length > 0;
  const ratioRow = (figure: string, a: TargetResult | undefined, b: TargetResult | undefined, target: number | null, targetText: string): Row => {
    if (!usable(a) || !usable(b)) {
      return { figure, measured: 'n/a', comparison: `${a?.label ?? '?'} vs ${b?.label ?? '?'}`, ratio: 'n/a', target: targetText, result: 'skipped', note: a?.skipped ?? b?.skipped ?? 'no load run' };
    }
    const ratio = a.rps / b.rps;
    const dirty = [a, b].filter((x) => x.cleanRuns === 0).map((x) => x.label);
    return {
      figure,
      measured: `${fmtInt(a.rps)} vs ${fmtInt(b.rps)} req/s (p99 ${fmt(a.p99ms)} vs ${fmt(b.p99ms)} ms)${dirty.length > 0 ? `; NO UNDISTURBED RUN of ${dirty.join(', ')}` : ''}`,
      comparison: `${a.label} / ${b.label}`,
      ratio: fmt(ratio),
      target: targetText,
      result: target === null ? 'info' : ratio >= target ? 'met' : 'missed',
    };
  };
  out.push(ratioRow('Proxy throughput vs nginx', t('proxy'), t('nginxProxy'), 0.6, '≥ 0.60'));
  out.push(ratioRow('Resolve throughput vs nginx', t('resolve'), t('nginxFixed'), 0.5, '≥ 0.50'));
  const direct = ratioRow('Proxy vs direct', t('proxy'), t('direct'), null, '— (cost of the extra hop)');
  const p = t('proxy');
  const d = t('direct');
  if (usable(p) && usable(d)) direct.measured += `; p50 +${fmt(p.p50ms - d.p50ms)} ms`;
  out.push(direct);
  const client = ratioRow('Proxy client: undici vs node:http', t('undici'), t('nodeHttp'), null, '~1.6 claimed in the issue');
  if (client.result !== 'skipped') client.result = Number(client.ratio) >= 1.4 ? 'confirmed' : 'not confirmed';
  out.push(client);

  const sizes = r.resolveSizes;
  const s10 = sizes.find((s) => s.processes === 10);
  const s10k = sizes.find((s) => s.processes === 10_000);
  if (s10 !== undefined && s10k !== undefined) {
    const flat = (figure: string, a: number, b: number, comparison: string): Row => ({
      figure,
      measured: `${fmtInt(b)} vs ${fmtInt(a)} ns/call`,
      comparison,
      ratio: fmt(b / a, 3),
      target: '≤ 1.20',
      result: b / a <= 1.2 ? 'met' : 'missed',
    });
    out.push(flat('resolveRequest, 10,000 vs 10 processes', s10.requestNs, s10k.requestNs, 'in-process, router Loads, lookups spread over all served versions'));
    out.push(flat('resolveRequest, 10,000 vs 10 processes (hot)', s10.requestHotNs, s10k.requestHotNs, 'in-process, router Loads, 5 versions looked up'));
    out.push(flat('resolveLogin, 10,000 vs 10 processes', s10.loginNs, s10k.loginNs, 'in-process, router Loads, half connect, half upgrade'));
  }
  const a = r.resolveHttp?.[0];
  const b = r.resolveHttp?.[1];
  if (a !== undefined && b !== undefined) {
    const dirty = [a, b].filter((x) => x.cleanRuns === 0).map((x) => `${fmtInt(x.processes)} processes`);
    out.push({ figure: 'GET /v1/resolve, 10,000 vs 10 processes', measured: `${fmtInt(b.rps)} vs ${fmtInt(a.rps)} req/s${dirty.length > 0 ? `; NO UNDISTURBED RUN at ${dirty.join(', ')}` : ''}`, comparison: 'time per request over HTTP (inverse of req/s)', ratio: fmt(a.rps / b.rps, 3), target: '≤ 1.20', result: a.rps / b.rps <= 1.2 ? 'met' : 'missed' });
  }
  const hb = r.heartbeatInProcess;
  if (hb !== null) {
    out.push({
      figure: 'Heartbeat ingestion, in-process',
      measured: `${fmtInt(hb.rate)}/s`,
      comparison: `one core: JSON.parse + parseHeartbeat + TallyBook.ingest, tally exact: ${hb.tallyExact ? 'yes' : 'NO'}`,
      ratio: `${fmt(hb.rate / 20_000, 1)}× target`,
      target: '≥ 20,000/s',
      result: !hb.tallyExact ? 'failed' : hb.rate >= 20_000 ? 'met' : 'missed',
    });
  }
  const hh = r.heartbeatHttp;
  if (hh !== null) {
    out.push({
      figure: 'Heartbeat ingestion, over HTTP',
      measured: `${fmtInt(hh.rate)}/s (p99 ${fmt(hh.p99ms)} ms)`,
      comparison: `${hh.clients} clients to the router; tally exact: ${hh.tallyExact ? 'yes' : 'NO'}, counter exact: ${hh.counterExact ? 'yes' : 'NO'}`,
      ratio: hb !== null ? `${fmt(hh.rate / hb.rate)} of in-process` : 'n/a',
      target: '— (bounded by HTTP)',
      result: hh.problem !== null ? 'failed' : 'info',
    });
  }
  for (const [pr, figure, target] of [
    [r.propagation, 'Policy propagation', true],
    [r.propagationLarge, 'Policy propagation, 10,000 processes', false],
  ] as const) {
    if (pr === null) continue;
    out.push({
      figure,
      measured: `p50 ${fmt(pr.endToEnd.p50)} ms, p99 ${fmt(pr.endToEnd.p99)} ms`,
      comparison: `${pr.writes} writes: PolicyStore.write → /healthz shows it${pr.missed > 0 ? `; ${pr.missed} not seen` : ''}`,
      ratio: `${fmt(pr.endToEnd.p99 / 20)}× target`,
      target: target ? 'p99 ≤ 20 ms' : '— (p99 ≤ 20 ms applies to ordinary policies)',
      result: !target ? 'info' : pr.endToEnd.p99 <= 20 && pr.missed === 0 ? 'met' : 'missed',
    });
  }
  return out;
}

function docsNotWritten(written: boolean): void {
  if (!written) process.stdout.write('docs/performance.md holds the combined table of every benchmark: it is written by `npm run bench -- --write-docs` (all of them in one run), not by this benchmark alone. Nothing written.\n');
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  if (scratch !== '') process.stderr.write(`scratch folder (logs): ${scratch}\n`);
  keepScratch = true;
  await cleanup();
  code = 1;
}
process.exit(code);
