import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Policy } from '../../src/core/policy-schema.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { captureStderr, type ChildTracker, lineReader, waitExit } from './child-processes.js';

/**
 * The two ways the store's reliability tests drive real writer processes
 * (test/fixtures/policy-writer.ts, compiled once with compile-fixture.ts):
 * a busy writer killed with SIGKILL again and again, and several writers
 * adding distinct markers at once. Shared by test/store (small, fast sizes)
 * and test/reliability (the sizes the issue asks for). No vitest here: the
 * callers assert on the figures returned.
 */

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const tempNames = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith('.tmp'));

// ---------------------------------------------------------------- kill -9 loop

export interface KillLoopOptions {
  children: ChildTracker;
  /** The compiled policy-writer. */
  writer: string;
  /** An initialised state folder. */
  stateDir: string;
  kills: number;
  /**
   * How long the writer runs (while this process reads) before it is killed:
   * a random time in [min, max] ms from the moment its first write is seen,
   * so every kill lands among writes however slow the machine is.
   */
  runMs?: [number, number];
}

export interface KillLoopStats {
  kills: number;
  unreadable: number;
  tempLeftBehind: Set<string>;
  concurrentReads: number;
  lastGeneration: number;
  failures: string[];
}

/**
 * Starts a writer updating the policy as fast as it can, reads the policy
 * while it writes, kills it with SIGKILL at a random moment, and checks that
 * a fresh store reads a valid policy whose generation never went back;
 * `kills` times.
 */
export async function killWriterLoop(opts: KillLoopOptions): Promise<KillLoopStats> {
  const [minMs, maxMs] = opts.runMs ?? [5, 60];
  const { stateDir } = opts;
  const historyDir = new PolicyStore(stateDir).historyDir;
  const stats: KillLoopStats = { kills: 0, unreadable: 0, tempLeftBehind: new Set(), concurrentReads: 0, lastGeneration: 0, failures: [] };
  const fail = (text: string) => stats.failures.length < 50 && stats.failures.push(text);
  for (let kill = 0; kill < opts.kills; kill += 1) {
    const child = opts.children.spawn(process.execPath, [opts.writer, 'loop', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr = captureStderr(child);
    await lineReader(child, stderr).next(15_000); // "ready <pid>"

    let until: number | undefined;
    const giveUp = performance.now() + 15_000;
    while (until === undefined || performance.now() < until) {
      if (until === undefined && performance.now() > giveUp) {
        fail(`kill ${kill}: the writer made no write within 15 s`);
        break;
      }
      try {
        const seen = await new PolicyStore(stateDir).read();
        stats.concurrentReads += 1;
        if (until === undefined && seen.generation > stats.lastGeneration) until = performance.now() + minMs + Math.random() * (maxMs - minMs);
      } catch (err) {
        stats.unreadable += 1;
        fail(`while writing, kill ${kill}: ${(err as Error).message}`);
      }
      await sleep(1);
    }
    child.kill('SIGKILL');
    const exit = await waitExit(child);
    stats.kills += 1;
    if (exit.signal !== 'SIGKILL') fail(`kill ${kill}: writer exited by itself (${JSON.stringify(exit)}): ${stderr()}`);

    for (const name of [...(await tempNames(stateDir)), ...(await tempNames(historyDir))]) stats.tempLeftBehind.add(name);
    try {
      const policy = await new PolicyStore(stateDir).read();
      if (policy.generation < stats.lastGeneration) fail(`kill ${kill}: generation went back from ${stats.lastGeneration} to ${policy.generation}`);
      stats.lastGeneration = policy.generation;
    } catch (err) {
      stats.unreadable += 1;
      fail(`after kill ${kill}: ${(err as Error).message}`);
    }
  }
  return stats;
}

// ---------------------------------------------------------------- concurrent writers

/** The process id policy-writer's `add` mode gives update `i` of writer `w` (its marker). */
export const markerId = (writer: number, i: number) => `svc@1.0.${writer * 1000 + i}#0`;

export interface ConcurrentOptions {
  children: ChildTracker;
  writer: string;
  /** An empty folder for the state. */
  stateDir: string;
  writers: number;
  updates: number;
  /** For each writer's summary line. */
  timeoutMs: number;
}

export interface ConcurrentStats {
  results: Array<{ writer: number; added: number; conflicts: number }>;
  /** Writer exits other than a clean 0, with their stderr. */
  badExits: string[];
  seconds: number;
  initialGeneration: number;
  final: Policy;
  markersPresent: number;
  missing: string[];
  /** Generations of the revisions written after the initial one, in history order. */
  newRevisions: number[];
  brokenRevisions: number;
  /** Revisions that do not hold exactly one more marker than the one before. */
  badSteps: string[];
  conflicts: number;
}

/**
 * Starts `writers` processes, releases them at the same instant, each adding
 * `updates` distinct markers one update at a time (retrying conflicts), then
 * reads back the policy and its whole history.
 */
export async function concurrentWriters(opts: ConcurrentOptions): Promise<ConcurrentStats> {
  const store = new PolicyStore(opts.stateDir);
  await store.init();
  // Start from a generation above 0, so "initial + total" is not trivially the total.
  const initial = await store.update((policy) => ({ ...policy, services: { other: { target: null, canary: null, match: 'exact', login: 'force', processes: [] } } }));

  const runs = Array.from({ length: opts.writers }, (_, w) => {
    const child = opts.children.spawn(process.execPath, [opts.writer, 'add', opts.stateDir, String(w), String(opts.updates)]);
    const stderr = captureStderr(child);
    return { child, stderr, lines: lineReader(child, stderr) };
  });
  for (const run of runs) await run.lines.next(15_000); // "ready <pid>"
  const started = performance.now();
  for (const run of runs) run.child.stdin!.write('go\n');

  const badExits: string[] = [];
  const results = await Promise.all(
    runs.map(async (run) => {
      const summary = JSON.parse(await run.lines.next(opts.timeoutMs)) as { writer: number; added: number; conflicts: number };
      const exit = await waitExit(run.child);
      if (exit.code !== 0 || exit.signal !== null) badExits.push(`writer ${summary.writer}: ${JSON.stringify(exit)} ${run.stderr()}`);
      return summary;
    }),
  );
  const seconds = (performance.now() - started) / 1000;

  const final = await store.read();
  const ids = new Set((final.services.svc?.processes ?? []).map((p) => p.id));
  const missing: string[] = [];
  for (let w = 0; w < opts.writers; w += 1) for (let i = 0; i < opts.updates; i += 1) if (!ids.has(markerId(w, i))) missing.push(markerId(w, i));

  // Each new revision holds exactly one more marker than the one before it.
  const history = (await store.history()).filter((entry) => entry.generation > initial.generation);
  const badSteps: string[] = [];
  for (const entry of history) {
    const count = (await store.revision(entry.generation)).services.svc?.processes.length ?? 0;
    if (count !== entry.generation - initial.generation) badSteps.push(`generation ${entry.generation} holds ${count} markers`);
  }
  return {
    results,
    badExits,
    seconds,
    initialGeneration: initial.generation,
    final,
    markersPresent: ids.size,
    missing,
    newRevisions: history.map((entry) => entry.generation),
    brokenRevisions: history.filter((entry) => entry.broken !== undefined).length,
    badSteps,
    conflicts: results.reduce((sum, r) => sum + r.conflicts, 0),
  };
}
