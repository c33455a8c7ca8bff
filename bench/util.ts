import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { appendFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { cpus, loadavg, tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { Client } from 'undici';

/** Small helpers shared by the benchmark files. Nothing here is timed. */

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

export function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of an unsorted list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** A port nobody listens on right now (127.0.0.1 only). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Where a program is on PATH, or undefined. */
export function which(program: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

/** stdout + stderr of a short command, or undefined when it cannot run. */
export function commandOutput(program: string, args: string[]): string | undefined {
  const result = spawnSync(program, args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) return undefined;
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
}

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
}

/** Spawns a child; resolves once it prints a line containing `readyText` on stdout. */
export interface SpawnChildOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where the child's stderr goes: a file descriptor, or this process's stderr. */
  stderr?: number | 'inherit' | 'ignore';
  /** Resolve once a stdout line contains this; without it, resolve at once. */
  readyText?: string;
  timeoutMs?: number;
}

export async function spawnChild(name: string, command: string, args: string[], options: SpawnChildOptions = {}): Promise<Child> {
  const spawnOptions: SpawnOptions = { stdio: ['ignore', 'pipe', options.stderr ?? 'inherit'] };
  if (options.env !== undefined) spawnOptions.env = options.env;
  if (options.cwd !== undefined) spawnOptions.cwd = options.cwd;
  const proc = spawn(command, args, spawnOptions);
  if (proc.pid === undefined) {
    const error = await new Promise<Error>((resolve) => proc.once('error', resolve));
    throw new Error(`${name}: could not start ${command}: ${error.message}`);
  }
  proc.on('error', (error) => log(`${name}: ${error.message}`));
  const child: Child = { name, proc, pid: proc.pid };
  const ready = options.readyText;
  const lines = createInterface({ input: proc.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not get ready within ${options.timeoutMs ?? 15_000} ms`)), options.timeoutMs ?? 15_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}) before it was ready`));
    };
    proc.once('exit', onExit);
    if (ready === undefined) {
      clearTimeout(timer);
      proc.off('exit', onExit);
      resolve();
      return;
    }
    lines.on('line', (line) => {
      if (line.includes(ready)) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        resolve();
      }
    });
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  lines.on('line', () => undefined);
  return child;
}

/** SIGTERM (or the given signal), then SIGKILL after a grace period; by pid only. */
export async function stopChild(child: Child, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** GETs a URL on a fresh connection; resolves with status and body text. */
export async function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const client = new Client(u.origin);
  try {
    const res = await client.request({ path: `${u.pathname}${u.search}`, method: 'GET', headers });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await client.close();
  }
}

/** Polls until `check` returns true, or throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? ` (${lastError})` : ''}`);
}

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

export interface CpuSnapshot {
  atMs: number;
  /** Busy ticks of the whole machine (all cores). */
  busy: number;
  /** Ticks of this process, the children it has reaped, and every live descendant. */
  mine: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime + cutime + cstime of one process, in ticks (0 if it is gone). */
function processTicks(pid: number | 'self'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return (fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0);
  } catch {
    return 0;
  }
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text !== '') out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone, or no /proc
  }
  return out;
}

/** Ticks of a process and every live descendant (with the children each has reaped). */
function treeTicks(pid: number): number {
  let ticks = 0;
  const queue = [pid];
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    ticks += processTicks(p);
    queue.push(...childPids(p));
  }
  return ticks;
}

/** CPU time of a process and its descendants, in µs (100 Hz ticks: 10 ms steps); 0 when gone or no /proc. */
export function treeCpuMicros(pid: number): number {
  return (treeTicks(pid) * 1e6) / TICKS_PER_SECOND;
}

/** Where the machine's CPU time went, from /proc (Linux); undefined elsewhere. */
export function cpuSnapshot(): CpuSnapshot | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq (steal is not time used inside this machine)
    const busy = (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0);
    return { atMs: Date.now(), busy, mine: treeTicks(process.pid) };
  } catch {
    return undefined;
  }
}

/** CPU-seconds used by processes that are not this one or its descendants, and their share of the machine. */
export function othersCpu(a: CpuSnapshot, b: CpuSnapshot, cores: number): { seconds: number; share: number } {
  const seconds = Math.max(0, (b.busy - a.busy - (b.mine - a.mine)) / TICKS_PER_SECOND);
  const wall = (b.atMs - a.atMs) / 1000;
  return { seconds, share: wall > 0 ? seconds / (wall * cores) : 0 };
}

// ------------------------------------------------------------------ whole-run CPU accounting

/**
 * The environment variable that marks the processes of one benchmark run.
 * Children inherit it, and so do the daemons they start that leave the
 * process tree (a PM2 daemon, an sshd): those are reparented to PID 1, so
 * walking this process's descendants alone would count them as "other
 * processes". Set once per run (bench/all.ts sets it for the three benches).
 * Not named SWITCHYARD_*: the test helpers strip those from the CLI's
 * environment, so the PM2 daemon would not inherit it.
 */
export const RUN_MARKER = 'SY_BENCH_RUN';

/** Where processes of the run that lose the marker are announced (see announceOurs). */
export const OURS_FILE_VAR = 'SY_BENCH_OURS';

/**
 * Sets the run marker in this process's environment (children inherit it),
 * unless a parent run already set one. `created` is true when this call set
 * it: that process owns the run and removes the announcement file at the end.
 */
export function ensureRunMarker(): { marker: string; oursFile: string; created: boolean } {
  const created = !process.env[RUN_MARKER];
  if (created) {
    process.env[RUN_MARKER] = `${process.pid}-${Date.now()}`;
    const file = join(tmpdir(), `switchyard-bench-ours-${process.env[RUN_MARKER]}.txt`);
    process.env[OURS_FILE_VAR] = file;
    process.once('exit', () => rmSync(file, { force: true }));
  }
  return { marker: process.env[RUN_MARKER]!, oursFile: process.env[OURS_FILE_VAR] ?? '', created };
}

/**
 * Announces paths that name processes of this run which cannot carry the
 * marker: an sshd rewrites its environment when it sets its title, and the
 * PM2 daemons started over ssh get the ssh session's environment. A process
 * whose command line or environment contains one of these paths is counted
 * as ours. Use paths unique to this run (temp folders it made).
 */
export function announceOurs(paths: string[]): void {
  const file = process.env[OURS_FILE_VAR];
  if (!file || paths.length === 0) return;
  try {
    appendFileSync(file, `${paths.join('\n')}\n`);
  } catch {
    // best effort: the CPU split is then less exact, and says nothing wrong about the benchmark
  }
}

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  /** utime + stime + cutime + cstime, in ticks. */
  ticks: number;
  /** utime + stime, in ticks (the process alone). */
  selfTicks: number;
  startTime: number;
}

function readProcStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    const n = (i: number) => Number(f[i] ?? 0);
    return { pid, ppid: n(1), comm, state: f[0] ?? '?', ticks: n(11) + n(12) + n(13) + n(14), selfTicks: n(11) + n(12), startTime: n(19) };
  } catch {
    return undefined;
  }
}

function isOurs(pid: number, marker: string, paths: readonly string[]): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    if (environ.includes(marker)) return true;
    if (paths.length === 0) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    return paths.some((p) => environ.includes(p) || cmdline.includes(p));
  } catch {
    return false;
  }
}

export interface CpuWatchResult {
  /** Wall seconds watched. */
  seconds: number;
  /** CPU-seconds the whole machine was busy. */
  busySeconds: number;
  /** CPU-seconds of this run: this process, its descendants, and every process carrying the run marker or an announced path (with theirs). */
  oursSeconds: number;
  /** CPU-seconds of every other process (with the children they reaped), and its share of the machine (all cores) over the watch. */
  othersSeconds: number;
  othersShare: number;
  /**
   * Busy CPU-seconds no process accounts for: processes that ended with no
   * parent to count them (a daemon's children when it is stopped: PID 1
   * reaps them here without keeping their time) and kernel work. Mostly ours
   * (the PM2 daemons and sshd sessions a benchmark stops); at most, others.
   */
  unattributedSeconds: number;
  /** 1-minute load average at the start and at the end. */
  loadavgStart: number;
  loadavgEnd: number;
  /** The other processes that used most CPU meanwhile, by command name (their own time, as sampled: approximate). */
  topOthers: Array<{ command: string; seconds: number }>;
}

interface Tracked {
  stat: ProcStat;
  ours: boolean;
}

/**
 * Where the machine's CPU went during a stretch of a benchmark run, sampled
 * from /proc every `intervalMs`. "Ours" is this process, its descendants,
 * and every process whose environment carries the run marker or whose
 * command line or environment names an announced path (with their
 * descendants); every other process is "others". Both are counted the same
 * way: each live process's CPU time including the children it reaped, plus
 * the last sampled time of processes that ended without a parent of the same
 * side to reap them. What the machine was busy with beyond both is reported
 * apart as unattributed. Linux only; elsewhere every figure is NaN.
 */
export class CpuWatch {
  private readonly needle: string;
  private readonly cores: number;
  private readonly oursFile: string;
  /** This watch set the run marker: it removes the announcement file when it stops. */
  private readonly ownsRun: boolean;
  private paths: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private startMs = 0;
  private busy0 = 0;
  private load0 = 0;
  private start0 = { ours: 0, others: 0 };
  /** Live processes at the last sample, by pid. */
  private live = new Map<number, Tracked>();
  /** Ticks of processes that ended unreaped by their side, per side. */
  private frozen = { ours: 0, others: 0 };
  /** Others' ticks by command name: first and last sample per process. */
  private othersByKey = new Map<string, { comm: string; first: number; last: number; atStart: boolean }>();
  /** Every process ever seen as ours: `pid:startTime`. */
  readonly seen = new Map<string, { pid: number; startTime: number; comm: string }>();
  ok = false;

  constructor(private readonly intervalMs = 500) {
    const run = ensureRunMarker();
    this.needle = `${RUN_MARKER}=${run.marker}\0`;
    this.oursFile = run.oursFile;
    this.ownsRun = run.created;
    this.cores = availableCores();
  }

  private readPaths(): void {
    try {
      this.paths = readFileSync(this.oursFile, 'utf8').split('\n').filter((l) => l.length > 4);
    } catch {
      // none announced yet
    }
  }

  private busyTicks(): number {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0);
  }

  /** One pass over /proc; returns the ticks of each side (live plus ended). */
  sample(first = false): { ours: number; others: number } {
    this.readPaths();
    const all = new Map<number, ProcStat>();
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      const st = readProcStat(pid);
      if (st !== undefined) all.set(pid, st);
    }
    const children = new Map<number, number[]>();
    for (const st of all.values()) {
      const list = children.get(st.ppid);
      if (list === undefined) children.set(st.ppid, [st.pid]);
      else list.push(st.pid);
    }
    const ours = new Set<number>();
    const queue: number[] = [process.pid];
    for (const st of all.values()) {
      if (st.pid === process.pid) continue;
      // Once ours, always ours (a daemon may rewrite its environment later).
      if (this.seen.has(`${st.pid}:${st.startTime}`) || isOurs(st.pid, this.needle, this.paths)) queue.push(st.pid);
    }
    for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
      if (ours.has(pid) || !all.has(pid)) continue;
      ours.add(pid);
      queue.push(...(children.get(pid) ?? []));
    }
    // Processes that ended since the last sample. Their time went up the chain of parents (each reaps its children into its cutime)
    // to the nearest one still alive: if that one is on the same side, it counts them now; if not, or if it is PID 1 (its
    // children's time is never counted through it, see below), keep their last sampled time.
    const gone = (pid: number) => {
      const now = all.get(pid);
      const before = this.live.get(pid);
      return now === undefined || (before !== undefined && now.startTime !== before.stat.startTime);
    };
    for (const [pid, t] of this.live) {
      if (!gone(pid)) continue;
      let up = t.stat.ppid;
      for (let hops = 0; hops < 64 && up !== 1 && gone(up) && this.live.has(up); hops++) up = this.live.get(up)!.stat.ppid;
      const reaper = up !== 1 && !gone(up) ? up : undefined;
      const counted = reaper !== undefined && ours.has(reaper) === t.ours;
      if (!counted) this.frozen[t.ours ? 'ours' : 'others'] += t.stat.ticks;
    }
    this.live = new Map();
    const ticks = { ...this.frozen };
    for (const st of all.values()) {
      const isO = ours.has(st.pid);
      // PID 1 reaps orphans of both sides, at moments of its choosing: its own time only.
      if (st.pid === 1) st.ticks = st.selfTicks;
      this.live.set(st.pid, { stat: st, ours: isO });
      const key = `${st.pid}:${st.startTime}`;
      if (isO) {
        ticks.ours += st.ticks;
        if (!this.seen.has(key)) this.seen.set(key, { pid: st.pid, startTime: st.startTime, comm: st.comm });
        this.othersByKey.delete(key);
      } else {
        ticks.others += st.ticks;
        const o = this.othersByKey.get(key);
        if (o === undefined) this.othersByKey.set(key, { comm: st.comm, first: st.selfTicks, last: st.selfTicks, atStart: first });
        else o.last = st.selfTicks;
      }
    }
    return ticks;
  }

  /** CPU-seconds of ours so far (a sample now): the difference of two calls is what the run used in between. */
  oursCpuSeconds(): number {
    if (!this.ok) return NaN;
    try {
      return this.sample().ours / TICKS_PER_SECOND;
    } catch {
      return NaN;
    }
  }

  start(): this {
    try {
      this.startMs = Date.now();
      this.busy0 = this.busyTicks();
      this.start0 = this.sample(true);
      this.load0 = loadavg()[0] ?? NaN;
      this.ok = true;
    } catch {
      this.ok = false;
      return this;
    }
    this.timer = setInterval(() => {
      try {
        this.sample();
      } catch {
        // /proc went away under us: the next sample or the end tries again
      }
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): CpuWatchResult {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.ownsRun) rmSync(this.oursFile, { force: true });
    const seconds = (Date.now() - this.startMs) / 1000;
    if (!this.ok) return { seconds, busySeconds: NaN, oursSeconds: NaN, othersSeconds: NaN, othersShare: NaN, unattributedSeconds: NaN, loadavgStart: NaN, loadavgEnd: loadavg()[0] ?? NaN, topOthers: [] };
    const end = this.sample();
    const busy = (this.busyTicks() - this.busy0) / TICKS_PER_SECOND;
    const oursS = Math.max(0, end.ours - this.start0.ours) / TICKS_PER_SECOND;
    // A process of ours reaped by another's subreaper would count twice: never above what the machine did besides ours.
    const othersS = Math.min(Math.max(0, end.others - this.start0.others) / TICKS_PER_SECOND, Math.max(0, busy - oursS));
    const byCommand = new Map<string, number>();
    for (const o of this.othersByKey.values()) {
      const used = o.last - (o.atStart ? o.first : 0);
      if (used > 0) byCommand.set(o.comm, (byCommand.get(o.comm) ?? 0) + used);
    }
    const topOthers = [...byCommand]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .filter(([, t]) => t >= TICKS_PER_SECOND / 2)
      .map(([command, t]) => ({ command, seconds: t / TICKS_PER_SECOND }));
    return {
      seconds,
      busySeconds: busy,
      oursSeconds: oursS,
      othersSeconds: othersS,
      othersShare: seconds > 0 ? othersS / (seconds * this.cores) : NaN,
      unattributedSeconds: Math.max(0, busy - oursS - othersS),
      loadavgStart: this.load0,
      loadavgEnd: loadavg()[0] ?? NaN,
      topOthers,
    };
  }

  /** Processes once seen as ours that are still running now (not zombies), for a "nothing left running" check. */
  stillRunning(): Array<{ pid: number; comm: string; cmdline: string }> {
    const out: Array<{ pid: number; comm: string; cmdline: string }> = [];
    for (const p of this.seen.values()) {
      if (p.pid === process.pid) continue;
      const st = readProcStat(p.pid);
      if (st === undefined || st.startTime !== p.startTime || st.state === 'Z' || st.state === 'X') continue;
      // This process's own helpers (tsx's esbuild service) end with it.
      if (st.ppid === process.pid && st.comm === 'esbuild') continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      } catch {
        continue;
      }
      out.push({ pid: p.pid, comm: st.comm, cmdline });
    }
    return out;
  }
}

function availableCores(): number {
  return cpus().length || 1;
}

/** "0.4% (0.2 CPU-s; load average 0.31 → 0.52)": the others' share of a watch, for a table cell. */
export function describeOthers(w: CpuWatchResult | undefined | null): string {
  if (w === undefined || w === null || !Number.isFinite(w.othersShare)) return 'unknown (no /proc)';
  const top = w.topOthers.length > 0 && w.othersShare >= 0.05 ? `; most: ${w.topOthers.map((t) => `${t.command} ${t.seconds.toFixed(1)} s`).join(', ')}` : '';
  return `${(w.othersShare * 100).toFixed(1)}% of the machine (${w.othersSeconds.toFixed(1)} CPU-s in ${w.seconds.toFixed(0)} s${top}); load average ${w.loadavgStart.toFixed(2)} → ${w.loadavgEnd.toFixed(2)}`;
}

// ------------------------------------------------------------------ structured output

/** One line of a benchmark's summary: the figure, what it was compared with in the same run, the ratio, the target and the verdict. */
export interface SummaryRow {
  figure: string;
  measured: string;
  comparison: string;
  ratio: string;
  target: string;
  result: 'met' | 'missed' | 'info' | 'skipped' | 'confirmed' | 'not confirmed' | 'failed';
  note?: string;
}

/** What bench/rollout.ts and bench/hosts.ts write with --out (bench/router.ts writes its own Results, with the same rows). */
export interface BenchJson {
  schema: 1;
  bench: 'rollout' | 'hosts' | 'cli' | 'haproxy' | 'routers';
  startedAt: string;
  finishedAt: string;
  command: string;
  settings: Record<string, string | number | boolean>;
  rows: SummaryRow[];
  notes: string[];
  /** CPU used by processes outside the benchmark during it. */
  others: CpuWatchResult | null;
  /** The detail tables, as Markdown. */
  details: string;
  /** Every raw figure. */
  data: Record<string, unknown>;
  /** False when the benchmark could not run or a check failed (not a missed target). */
  ok: boolean;
}

/** Writes a result as JSON (non-finite numbers as null); returns the path written. */
export async function writeJson(path: string, value: unknown): Promise<string> {
  const full = resolvePath(path);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  return full;
}

/** The default --out: a file in the OS temp folder. */
export function defaultJsonPath(bench: string, startedAt: string): string {
  return join(tmpdir(), 'switchyard-bench', `${bench}-${startedAt.replace(/[:.]/g, '-')}.json`);
}

/** A Markdown table; pipes in cells are escaped. */
export function mdTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** "npm run bench:x -- a b" for the arguments this process got. */
export function npmCommand(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
}

/**
 * Replaces a benchmark's generated block (between its `begin` and `end`
 * markers) in a docs file, or appends it under `heading` when the file has none.
 */
export async function replaceDocsBlock(path: string, markers: { begin: string; end: string; heading: string }, text: string): Promise<void> {
  const docs = await readFile(path, 'utf8');
  const block = `${markers.begin}\n${text}\n${markers.end}`;
  const at = docs.indexOf(markers.begin);
  const next = at === -1 ? `${docs.trimEnd()}\n\n## ${markers.heading}\n\n${block}\n` : `${docs.slice(0, at)}${block}${docs.slice(docs.indexOf(markers.end) + markers.end.length)}`;
  await writeFile(path, next);
}

/** Runs a benchmark's main, then its clean-up whatever happened; the exit code is main's, or 1 when it threw. */
export function runBench(name: string, main: () => Promise<number>, cleanup: () => Promise<void>): void {
  main()
    .then(async (code) => {
      await cleanup();
      process.exitCode = code;
    })
    .catch(async (error: unknown) => {
      process.stderr.write(`${name} failed: ${(error as Error).stack ?? String(error)}\n`);
      await cleanup();
      process.exitCode = 1;
    });
}
