import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadOutput } from './load.js';
import { cpuSnapshot, log, othersCpu, sleep } from '../util.js';

const LOAD = join(dirname(fileURLToPath(import.meta.url)), 'load.ts');
const cores = cpus().length || 1;
const QUIET_SHARE = 0.1;
let quietBudgetMs = 0;

/** Up to `ms` of waiting in all, over the whole benchmark, for quiet moments before load runs (0: never wait). */
export function allowQuietWait(ms: number): void {
  quietBudgetMs = ms;
}

/** On a shared machine: waits (within the budget) until other processes use under 10% of the CPU for half a second. */
async function waitQuiet(): Promise<void> {
  let said = false;
  while (quietBudgetMs > 0) {
    const a = cpuSnapshot();
    const t0 = Date.now();
    await sleep(500);
    const b = cpuSnapshot();
    quietBudgetMs -= Date.now() - t0;
    if (a === undefined || b === undefined || othersCpu(a, b, cores).share <= QUIET_SHARE) return;
    if (!said) log(`    other processes are busy: waiting for a quiet moment (${Math.round(quietBudgetMs / 1000)} s of waiting left)`);
    said = true;
  }
}

/** Runs one job split over `workers` child processes (pinned to CPU 1 when asked); resolves with their outputs and CPU seconds. */
export async function runLoad(jobs: LoadJob[], pinned: boolean): Promise<{ outputs: LoadOutput[]; cpuS: number; othersShare: number }> {
  await waitQuiet();
  const prefix = pinned ? ['taskset', '-c', '1'] : [];
  const children = jobs.map(() => {
    const [cmd, ...args] = [...prefix, process.execPath, '--import', 'tsx', LOAD];
    return spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  });
  try {
    const readers = children.map((c) => {
      const lines = createInterface({ input: c.stdout! });
      const queue: string[] = [];
      const waiting: Array<(l: string) => void> = [];
      lines.on('line', (l) => (waiting.length > 0 ? waiting.shift()!(l) : queue.push(l)));
      c.once('exit', (code) => waiting.splice(0).forEach((w) => w(`exit ${code}`)));
      return () => new Promise<string>((done) => (queue.length > 0 ? done(queue.shift()!) : waiting.push(done)));
    });
    children.forEach((c, i) => c.stdin!.write(`${JSON.stringify(jobs[i])}\n`));
    for (const next of readers) {
      const line = await next();
      if (line !== 'ready') throw new Error(`a load process did not get ready: ${line}`);
    }
    const a = cpuSnapshot();
    children.forEach((c) => c.stdin!.write('go\n'));
    const outputs: LoadOutput[] = [];
    let cpuS = 0;
    for (let i = 0; i < children.length; i++) {
      const line = await readers[i]!();
      if (!line.startsWith('{')) throw new Error(`a load process ended without a result: ${line}`);
      const out = JSON.parse(line) as LoadOutput;
      cpuS += out.cpuS;
      outputs.push(out);
    }
    const b = cpuSnapshot();
    return { outputs, cpuS, othersShare: a && b ? othersCpu(a, b, cores).share : NaN };
  } finally {
    for (const c of children) {
      c.stdin!.end();
      if (c.exitCode === null) c.kill('SIGTERM');
    }
  }
}

