import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
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

/** Where the machine's CPU time went, from /proc (Linux); undefined elsewhere. */
export function cpuSnapshot(): CpuSnapshot | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq (steal is not time used inside this machine)
    const busy = (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0);
    let mine = processTicks('self');
    const queue = childPids(process.pid);
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      mine += processTicks(pid);
      queue.push(...childPids(pid));
    }
    return { atMs: Date.now(), busy, mine };
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
