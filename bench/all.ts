/**
 * Every benchmark in one run, and one table: `npm run bench [-- flags]`.
 *
 * Runs bench/router.ts, bench/rollout.ts, bench/hosts.ts, bench/cli-start.ts, bench/haproxy.ts and bench/routers.ts one after
 * another (never at once: they measure CPU-bound things on a small machine),
 * each with --out into a scratch folder; collects their JSON; and prints one
 * combined table: for every figure, the comparison measured in the same run,
 * the ratio, the target from issues 3, 4, 5, 11, 13 and 14, and met/missed. Also the
 * machine, the exact commands, and how much CPU other processes used during
 * each benchmark (from /proc; processes of this run are told apart by an
 * environment marker and the temp folders they announce, see CpuWatch in
 * bench/util.ts).
 *
 * Flags:
 *   --quick            every benchmark at its --quick size (CI: checks that they run, ~1 minute)
 *   --write-docs       write the combined block of docs/performance.md (between the bench:all markers)
 *   --out <file>       where the combined JSON goes (default: a file in the OS temp folder)
 *   --from-json <file> render a saved combined JSON again (with --write-docs: into the docs) without running
 *   --only <list>      some of router,rollout,hosts,cli,haproxy,routers (default: all six)
 *   --without <list>   act as if these tools were missing: nginx, wrk (router), sshd (hosts)
 *
 * A benchmark whose optional tool is missing (nginx, wrk, sshd, redis-server) still runs
 * what it can and says what it skipped in the table. Exit code: 0 when every
 * benchmark ran (missed targets and skipped rows included); 1 when one
 * failed (a correctness check, a deploy, could not run, timed out) or left a
 * process running; 2 for bad flags.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderDetails, type Results as RouterResults } from './router/report.js';
import { commandOutput, CpuWatch, defaultJsonPath, describeOthers, ensureRunMarker, fmt, log, mdTable, sleep, which, writeJson, type BenchJson, type CpuWatchResult, type SummaryRow } from './util.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOCS = join(ROOT, 'docs', 'performance.md');
export const BEGIN = '<!-- bench:all:begin (written by `npm run bench -- --write-docs`; edit outside these markers) -->';
export const END = '<!-- bench:all:end -->';

const NAMES = ['router', 'rollout', 'hosts', 'cli', 'haproxy', 'routers'] as const;
type Name = (typeof NAMES)[number];
const TITLES: Record<Name, string> = { router: 'Router', rollout: 'Rollouts (local PM2)', hosts: 'Parallel hosts (ssh)', cli: 'CLI start-up', haproxy: 'HAProxy data plane', routers: 'Several routers on Redis' };
const ISSUES: Record<Name, string> = { router: 'issue 3', rollout: 'issue 4', hosts: 'issue 5', cli: 'issue 11', haproxy: 'issue 14', routers: 'issue 13' };
const FILES: Record<Name, string> = { router: 'router.ts', rollout: 'rollout.ts', hosts: 'hosts.ts', cli: 'cli-start.ts', haproxy: 'haproxy.ts', routers: 'routers.ts' };

let parsed: ReturnType<typeof parseFlags>;
function parseFlags() {
  return parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      out: { type: 'string' },
      'from-json': { type: 'string' },
      only: { type: 'string' },
      without: { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
}
try {
  parsed = parseFlags();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\nSee: npm run bench -- --help\n`);
  process.exit(2);
}
const flags = parsed.values;

if (flags.help) {
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${text.slice(text.indexOf('/**') + 4, text.indexOf('*/')).replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}

const quick = flags.quick === true;
const without = (flags.without ?? '').split(',').map((x) => x.trim()).filter(Boolean);
const unknownTool = without.find((x) => !['nginx', 'wrk', 'sshd'].includes(x));
const only = flags.only === undefined ? [...NAMES] : flags.only.split(',').map((x) => x.trim());
const unknownBench = only.find((x) => !(NAMES as readonly string[]).includes(x));
if (unknownTool !== undefined || unknownBench !== undefined) {
  process.stderr.write(unknownTool !== undefined ? `--without takes nginx, wrk, sshd; not "${unknownTool}"\n` : `--only takes router, rollout, hosts, cli, haproxy, routers; not "${unknownBench}"\n`);
  process.exit(2);
}

/** What one benchmark did, as kept in the combined JSON. */
interface BenchRun {
  name: Name;
  /** The command, as a person would type it (the scratch path shown as <scratch>). */
  command: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  seconds: number;
  /** CPU used by processes outside the run while this benchmark ran. */
  others: CpuWatchResult;
  /** The benchmark's own JSON (router: its Results; rollout, hosts: BenchJson), or null when it wrote none. */
  result: RouterResults | BenchJson | null;
  /** The last lines it printed on stderr, when it failed. */
  failure: string | null;
}

interface Combined {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  command: string;
  size: 'quick' | 'default';
  machine: Record<string, string>;
  runs: BenchRun[];
  /** Processes of the run still running after every benchmark ended (they were then stopped). */
  leftOver: string[];
  ok: boolean;
}

// ------------------------------------------------------------------ the machine

function firstLine(text: string | undefined): string | undefined {
  const line = text?.split('\n').map((l) => l.trim()).find((l) => l !== '');
  return line === undefined || line === '' ? undefined : line;
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(ext)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  try {
    walk(dir);
  } catch {
    return 0;
  }
  return newest;
}

function machineInfo(): Record<string, string> {
  const cpu = cpus();
  const nginxPath = without.includes('nginx') ? undefined : (which('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined));
  const wrkPath = without.includes('wrk') ? undefined : which('wrk');
  const sshd = !without.includes('sshd') && existsSync('/usr/sbin/sshd');
  const ssh = which('ssh');
  const rsync = which('rsync');
  const gitHead = firstLine(commandOutput('git', ['-C', ROOT, 'log', '-1', '--format=%h %s']));
  const changed = (args: string[]) => (commandOutput('git', ['-C', ROOT, ...args]) ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('fatal'));
  const dirty = [...changed(['diff', '--name-only', 'HEAD', '--', 'src']), ...changed(['ls-files', '--others', '--exclude-standard', '--', 'src'])];
  const srcNewest = newestMtime(join(ROOT, 'src'), '.ts');
  const distNewest = newestMtime(join(ROOT, 'dist'), '.js');
  const distNote = distNewest === 0 ? 'missing' : srcNewest > distNewest ? `built ${new Date(distNewest).toISOString()}, OLDER than a file in src/ (run npm run build)` : `built ${new Date(distNewest).toISOString()}, newer than every file in src/`;
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB (${(freemem() / 2 ** 30).toFixed(1)} GiB free at start)`,
    os: `Linux ${release()}`,
    node: process.version,
    nginx: nginxPath === undefined ? 'not installed' : (firstLine(commandOutput(nginxPath, ['-v']))?.replace(/^nginx version:\s*/, '') ?? '?'),
    wrk: wrkPath === undefined ? 'not installed (the router bench uses autocannon)' : (firstLine(commandOutput(wrkPath, ['-v']))?.replace(/^wrk\s+/, '').replace(/\s+Copyright.*$/, '') ?? '?'),
    'ssh / sshd': `${ssh === undefined ? 'ssh not installed' : (firstLine(commandOutput(ssh, ['-V'])) ?? '?')}; sshd ${sshd ? 'installed' : 'not installed'}`,
    rsync: rsync === undefined ? 'not installed (deploy --sync uses tar)' : (firstLine(commandOutput(rsync, ['--version']))?.replace(/\s+protocol.*$/, '').replace(/\s+/g, ' ') ?? '?'),
    'pm2, undici': `${pkgVersion('pm2')}, ${pkgVersion('undici')}`,
    code: `${gitHead ?? 'not a git checkout'}${dirty.length > 0 ? `; uncommitted changes in ${dirty.join(', ')}` : ''}; dist/ ${distNote}`,
  };
}

// ------------------------------------------------------------------ running one benchmark

let current: { name: Name; pid: number } | undefined;
/** One per benchmark run: each remembers the processes it saw as ours, for the "nothing left running" check. */
const benchWatches: CpuWatch[] = [];
let interrupted = false;

function tail(text: string, lines: number): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

async function runBench(name: Name, scratch: string): Promise<BenchRun> {
  const out = join(scratch, `${name}.json`);
  const args = [...(quick ? ['--quick'] : [])];
  if (name === 'router') {
    const w = without.filter((x) => x === 'nginx' || x === 'wrk');
    if (w.length > 0) args.push('--without', w.join(','));
  }
  if (name === 'hosts' && without.includes('sshd')) args.push('--without', 'sshd');
  const command = `npm run bench:${name} -- ${[...args, '--out', `<scratch>/${name}.json`].join(' ')}`;
  log(`${name}: ${command}`);
  // Generous bounds: the default router run takes 3 to 5 minutes, quick runs under a minute.
  const limitMs = (quick ? 4 : name === 'router' ? 20 : 10) * 60_000;
  const watch = new CpuWatch(1000).start();
  benchWatches.push(watch);
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', FILES[name]), ...args, '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  current = { name, pid: child.pid ?? 0 };
  let stderrTail = '';
  // Their tables and progress go to this process's stderr: stdout is for the combined table.
  child.stdout.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  child.stderr.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderrTail = tail(stderrTail + chunk.toString(), 30);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    log(`${name} is still running after ${limitMs / 60_000} minutes: stopping it (SIGTERM, it cleans up)`);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 60_000).unref();
  }, limitMs);
  const [exitCode, signal] = await new Promise<[number | null, string | null]>((done) => child.once('exit', (code, sig) => done([code, sig])));
  clearTimeout(timer);
  current = undefined;
  const others = watch.stop();
  let result: BenchRun['result'] = null;
  try {
    result = JSON.parse(await readFile(out, 'utf8')) as BenchRun['result'];
  } catch {
    result = null;
  }
  const ok = exitCode === 0 && !timedOut && result !== null;
  return {
    name,
    command,
    exitCode,
    signal,
    timedOut,
    seconds: (Date.now() - started) / 1000,
    others,
    result,
    failure: ok ? null : `${timedOut ? `timed out after ${limitMs / 60_000} min; ` : ''}exit ${exitCode ?? signal}${result === null ? ', no JSON written' : ''}: ${tail(stderrTail, 6).split('\n').join(' / ') || 'no output'}`,
  };
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      // A second Ctrl-C: no more waiting for the clean-up.
      if (current !== undefined && current.pid > 0) process.kill(current.pid, 'SIGKILL');
      return;
    }
    interrupted = true;
    log(`${sig}: stopping ${current === undefined ? 'nothing (between benchmarks)' : `the ${current.name} benchmark (it cleans up)`}`);
    if (current !== undefined && current.pid > 0) {
      try {
        process.kill(current.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    } else process.exit(130);
  });
}

/** Waits for the processes of the run to end; stops (by pid) those still running after 15 s; returns what was left. */
async function leftOvers(watches: CpuWatch[]): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  let left = watches.flatMap((w) => w.stillRunning());
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(250);
    left = watches.flatMap((w) => w.stillRunning());
  }
  const seen = new Set<number>();
  left = left.filter((p) => !seen.has(p.pid) && seen.add(p.pid));
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return left.map((p) => `${p.pid} ${p.cmdline.slice(0, 160)}`);
}

// ------------------------------------------------------------------ the combined table

interface CombinedRow extends SummaryRow {
  bench: Name;
}

function rowsOf(run: BenchRun): CombinedRow[] {
  if (run.failure !== null) {
    const kept = (run.result?.rows ?? []).map((r) => ({ ...r, bench: run.name }));
    return [...kept, { bench: run.name, figure: `${TITLES[run.name]} benchmark`, measured: 'n/a', comparison: '—', ratio: 'n/a', target: '—', result: 'failed', note: run.failure }];
  }
  return (run.result?.rows ?? []).map((r) => ({ ...r, bench: run.name }));
}

function resultCell(r: SummaryRow): string {
  const word = r.result === 'met' || r.result === 'confirmed' ? `**${r.result}**` : r.result === 'missed' || r.result === 'not confirmed' || r.result === 'failed' ? `**${r.result.toUpperCase()}**` : r.result;
  return r.note !== undefined && (r.result === 'skipped' || r.result === 'failed') ? `${word}: ${r.note}` : word;
}

function duration(seconds: number): string {
  return seconds >= 90 ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s` : `${Math.round(seconds)} s`;
}

function wholeRun(runs: BenchRun[]): CpuWatchResult | null {
  const ok = runs.filter((r) => Number.isFinite(r.others.othersShare));
  if (ok.length === 0) return null;
  const seconds = ok.reduce((n, r) => n + r.others.seconds, 0);
  const othersSeconds = ok.reduce((n, r) => n + r.others.othersSeconds, 0);
  const cores = cpus().length || 1;
  return {
    seconds,
    busySeconds: ok.reduce((n, r) => n + r.others.busySeconds, 0),
    oursSeconds: ok.reduce((n, r) => n + r.others.oursSeconds, 0),
    othersSeconds,
    othersShare: othersSeconds / (seconds * cores),
    unattributedSeconds: ok.reduce((n, r) => n + r.others.unattributedSeconds, 0),
    loadavgStart: ok[0]!.others.loadavgStart,
    loadavgEnd: ok[ok.length - 1]!.others.loadavgEnd,
    topOthers: [],
  };
}

export function renderCombined(c: Combined): string {
  const out: string[] = [];
  const total = c.runs.reduce((n, r) => n + r.seconds, 0);
  out.push(`Run ${c.startedAt} → ${c.finishedAt} (${duration(total)} of benchmarks), ${c.size === 'quick' ? '**--quick size: these figures only show that the benchmarks run; do not quote them**' : 'default size'}.`, '');
  out.push('**Every target from issues 3, 4, 5, 11, 13 and 14, with the comparison measured in the same run**', '');
  const rows = c.runs.flatMap(rowsOf);
  out.push(
    mdTable(
      ['benchmark', 'figure', 'measured', 'compared with (same run)', 'ratio', 'target', 'result'],
      rows.map((r) => [`${TITLES[r.bench]} (${ISSUES[r.bench]})`, r.figure, r.measured, r.comparison, r.ratio, r.target, resultCell(r)]),
    ),
    '',
  );
  const counted = rows.filter((r) => r.result === 'met' || r.result === 'missed');
  out.push(`Targets met: ${counted.filter((r) => r.result === 'met').length} of ${counted.length}${rows.some((r) => r.result === 'skipped') ? `; skipped: ${rows.filter((r) => r.result === 'skipped').length}` : ''}${rows.some((r) => r.result === 'failed') ? `; FAILED: ${rows.filter((r) => r.result === 'failed').length}` : ''}. "info" rows have no target of their own: they are the comparisons that explain a figure.`, '');

  out.push('**Machine**', '');
  out.push(mdTable(['', ''], Object.entries(c.machine).map(([k, v]) => [k, v])), '');
  out.push('**Commands** (run one after another, never at once; `<scratch>` is a temp folder)', '');
  out.push('```', c.command, ...c.runs.map((r) => `  ${r.command}`), '```', '');

  out.push('**Load from other processes during the run** (CPU time of processes outside the run, as a share of the whole machine, read from /proc every second; the run\'s own processes, including the PM2 daemons and sshd it starts, are told apart by an environment marker and their temp folders)', '');
  const whole = wholeRun(c.runs);
  out.push(
    mdTable(
      ['benchmark', 'wall time', 'exit', 'other processes used', 'busy CPU no process accounts for'],
      [
        ...c.runs.map((r) => [TITLES[r.name], duration(r.seconds), r.timedOut ? 'timed out' : String(r.exitCode ?? r.signal), describeOthers(r.others), Number.isFinite(r.others.unattributedSeconds) ? `${fmt(r.others.unattributedSeconds, 1)} CPU-s` : 'n/a']),
        ...(whole === null ? [] : [['whole run', duration(whole.seconds), '', describeOthers(whole), `${fmt(whole.unattributedSeconds, 1)} CPU-s`]]),
      ],
    ),
    '',
  );
  out.push('The last column is CPU time the machine spent that no live process accounts for: mostly processes of the run that ended without a parent to count them (the children of a PM2 daemon the benchmark stops), so it is an upper bound of what else could have been other load.', '');
  if (c.leftOver.length > 0) out.push(`**Left running after the benchmarks, then stopped by pid**: ${c.leftOver.join('; ')}`, '');

  for (const r of c.runs) {
    out.push(`#### ${TITLES[r.name]}: details`, '');
    if (r.result === null) {
      out.push(`No result: ${r.failure ?? 'the benchmark wrote no JSON'}`, '');
      continue;
    }
    if (r.name === 'router') {
      const rr = r.result as RouterResults;
      out.push(mdTable(['setting', 'value'], Object.entries(rr.settings).map(([k, v]) => [k, String(v)])), '');
      out.push(renderDetails(rr));
    } else {
      const b = r.result as BenchJson;
      out.push(mdTable(['setting', 'value'], Object.entries(b.settings).map(([k, v]) => [k, String(v)])), '');
      out.push(b.details);
      if (b.notes.length > 0) out.push('**Notes from the run**', '', ...b.notes.map((n) => `- ${n}`), '');
    }
  }
  return out.join('\n');
}

async function writeDocs(c: Combined): Promise<void> {
  const text = await readFile(DOCS, 'utf8').catch(() => `# Performance\n\n${BEGIN}\n${END}\n`);
  const block = `${BEGIN}\n\n${renderCombined(c)}\n${END}`;
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  await writeFile(DOCS, a !== -1 && b > a ? `${text.slice(0, a)}${block}${text.slice(b + END.length)}` : `${text.trimEnd()}\n\n${block}\n`);
  process.stdout.write(`updated ${DOCS}\n`);
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  if (flags['from-json'] !== undefined) {
    const saved = JSON.parse(await readFile(flags['from-json'], 'utf8')) as Combined;
    process.stdout.write(`${renderCombined(saved)}\n`);
    if (flags['write-docs']) await writeDocs(saved);
    return saved.ok ? 0 : 1;
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('dist/ is missing: run `npm run build` (npm ci does it) first.\n');
    return 1;
  }
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  if (machine.code?.includes('OLDER')) log('warning: dist/ is older than src/: the benchmarks measure dist/ (run npm run build)');
  // The marker every process of this run inherits; this process owns it and the announcement file.
  const run = ensureRunMarker();
  const scratch = await mkdtemp(join(tmpdir(), 'switchyard-bench-all-'));
  const runs: BenchRun[] = [];
  const args = process.argv.slice(2);
  try {
    for (const name of NAMES.filter((n) => only.includes(n))) {
      if (interrupted) break;
      const run = await runBench(name, scratch);
      runs.push(run);
      log(`${name}: exit ${run.exitCode ?? run.signal} after ${duration(run.seconds)}; other processes: ${describeOthers(run.others)}`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const leftOver = await leftOvers(benchWatches);
  if (run.created) await rm(run.oursFile, { force: true });
  const combined: Combined = {
    schema: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
    size: quick ? 'quick' : 'default',
    machine,
    runs,
    leftOver,
    ok: runs.every((r) => r.failure === null) && leftOver.length === 0 && !interrupted,
  };
  const jsonPath = await writeJson(flags.out ?? defaultJsonPath('all', startedAt), combined);
  process.stdout.write(`${renderCombined(combined)}\n`);
  process.stdout.write(`JSON: ${jsonPath}\n`);
  if (flags['write-docs']) await writeDocs(combined);
  if (leftOver.length > 0) process.stdout.write(`\nPROCESSES LEFT RUNNING (stopped now by pid): ${leftOver.join('; ')}\n`);
  if (!combined.ok) process.stdout.write(`\nA BENCHMARK FAILED: ${runs.filter((r) => r.failure !== null).map((r) => `${r.name} (${r.failure})`).join('; ') || (interrupted ? 'interrupted' : 'see above')}: exit 1.\n`);
  return combined.ok ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  code = 1;
}
process.exit(code);
