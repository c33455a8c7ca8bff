import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Policy } from '../../src/core/policy-schema.js';
import { PolicyStore } from '../../src/store/policy-store.js';
import { captureStderr, type ChildTracker, lineReader, waitExit } from './child-processes.js';
import { markerId } from './policy-writer-runs.js';

/**
 * Writer processes racing on one state folder while some of them are
 * SIGKILLed at random instants (test/fixtures/policy-writer.ts `race` mode,
 * which prints "won <generation> <marker>" as each update commits). Checks
 * the store's promises with no lock to lean on: each success owns exactly
 * one generation, the history is contiguous and every revision adds exactly
 * one marker to the one before, no history file is ever rewritten (each is
 * hashed when first seen and again at the end), and a fresh write
 * afterwards succeeds on its first try with no repair. No vitest here: the
 * callers assert on what is returned.
 */

export interface RaceOptions {
  children: ChildTracker;
  writer: string;
  /** An empty folder for the state. */
  stateDir: string;
  writers: number;
  updates: number;
  /** How many writers are SIGKILLed, each at a random instant in [0, killWithinMs] after the start. */
  kills: number;
  killWithinMs: number;
  timeoutMs: number;
}

export interface RaceStats {
  writers: number;
  /** Writers that were still running when their kill landed. */
  killed: number;
  /** Generations committed after the initial one. */
  generations: number;
  /** Generations a writer printed as won. */
  claimed: number;
  conflicts: number;
  seconds: number;
  /** Every broken promise, in words; empty when all held. */
  failures: string[];
  /** The fresh write after the race, made with write() (no retry). */
  freshGeneration: number;
  tempFilesAfter: number;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const REVISION = /^(\d+)\.json$/;

/** Hashes every history file the first time it is seen, polling until `stop` is set. */
class HistoryWitness {
  readonly seen = new Map<string, string>();
  stop = false;
  private readonly done: Promise<void>;

  constructor(private readonly dir: string) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stop) {
      await this.look();
      await sleep(5);
    }
  }

  async look(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (REVISION.test(name) && !this.seen.has(name)) this.seen.set(name, sha(await readFile(join(this.dir, name), 'utf8')));
    }
  }

  async finish(): Promise<string[]> {
    this.stop = true;
    await this.done;
    await this.look();
    const changed: string[] = [];
    for (const [name, hash] of this.seen) {
      const now = await readFile(join(this.dir, name), 'utf8').then(sha, () => 'gone');
      if (now !== hash) changed.push(`history/${name} ${now === 'gone' ? 'disappeared' : 'was rewritten'}`);
    }
    return changed;
  }
}

const markersOf = (policy: Policy) => new Set((policy.services.svc?.processes ?? []).map((p) => p.id));

export async function racingWriters(opts: RaceOptions): Promise<RaceStats> {
  const store = new PolicyStore(opts.stateDir);
  await store.init();
  const initial = await store.update((policy) => ({ ...policy, services: { other: { target: null, canary: null, match: 'exact', login: 'force', processes: [] } } }));
  const failures: string[] = [];
  const fail = (text: string) => failures.length < 50 && failures.push(text);
  const witness = new HistoryWitness(store.historyDir);

  const runs = Array.from({ length: opts.writers }, (_, w) => {
    const child = opts.children.spawn(process.execPath, [opts.writer, 'race', opts.stateDir, String(w), String(opts.updates)]);
    const stderr = captureStderr(child);
    return { w, child, stderr, lines: lineReader(child, stderr), won: [] as Array<{ generation: number; marker: number }>, conflicts: 0 };
  });
  for (const run of runs) await run.lines.next(15_000); // "ready <pid>"
  const victims = new Set([...runs.keys()].sort(() => Math.random() - 0.5).slice(0, opts.kills));
  const started = performance.now();
  for (const run of runs) run.child.stdin!.write('go\n');

  let killed = 0;
  const finished = await Promise.all(
    runs.map(async (run) => {
      const killer = victims.has(run.w)
        ? sleep(Math.random() * opts.killWithinMs).then(() => {
            if (run.child.exitCode === null && run.child.signalCode === null) {
              run.child.kill('SIGKILL');
              killed += 1;
            }
          })
        : Promise.resolve();
      const deadline = Date.now() + opts.timeoutMs;
      for (;;) {
        const line = await run.lines.next(Math.max(1, deadline - Date.now())).catch(() => null);
        if (line === null) break;
        const won = /^won (\d+) (\d+)$/.exec(line);
        if (won !== null) run.won.push({ generation: Number(won[1]), marker: Number(won[2]) });
        else run.conflicts = (JSON.parse(line) as { conflicts: number }).conflicts;
      }
      await killer;
      const exit = await waitExit(run.child);
      if (exit.signal !== 'SIGKILL' && exit.code !== 0) fail(`writer ${run.w}: ${JSON.stringify(exit)} ${run.stderr()}`);
      if (exit.signal === null && run.won.length !== opts.updates) fail(`writer ${run.w} exited cleanly after ${run.won.length} of ${opts.updates} updates`);
      return run;
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const rewritten = await witness.finish();
  for (const text of rewritten) fail(text);

  // The history: 0..head with no gap, each revision one marker more than the one before.
  const head = await store.read();
  const history = await store.history();
  const expected = Array.from({ length: head.generation + 1 }, (_, g) => g);
  if (JSON.stringify(history.map((h) => h.generation)) !== JSON.stringify(expected)) fail(`history is not 0..${head.generation}: ${history.map((h) => h.generation).join(',')}`);
  for (const entry of history.filter((h) => h.broken !== undefined)) fail(`history/${entry.generation}.json is broken: ${entry.broken}`);
  const added = new Map<number, string>();
  let previous = markersOf(await store.revision(initial.generation));
  for (let g = initial.generation + 1; g <= head.generation; g += 1) {
    const markers = markersOf(await store.revision(g));
    const fresh = [...markers].filter((id) => !previous.has(id));
    const lost = [...previous].filter((id) => !markers.has(id));
    if (fresh.length !== 1 || lost.length !== 0) fail(`generation ${g} adds ${fresh.length} markers and loses ${lost.length}`);
    else added.set(g, fresh[0]!);
    previous = markers;
  }

  // Each success owns exactly one generation: the one holding its marker, claimed by nobody else.
  const owners = new Map<number, string>();
  for (const run of finished) {
    for (const { generation, marker } of run.won) {
      const id = markerId(Math.floor(marker / 1000), marker % 1000);
      if (owners.has(generation)) fail(`generation ${generation} claimed by ${owners.get(generation)} and by ${id}`);
      owners.set(generation, id);
      if (added.get(generation) !== id) fail(`writer ${run.w} won generation ${generation} for ${id}, but that revision added ${added.get(generation) ?? 'nothing'}`);
    }
  }

  // A fresh writer after the kills: one compare-and-set, no retry, no repair first.
  const fresh = new PolicyStore(opts.stateDir);
  const current = await fresh.read();
  const written = await fresh.write({ ...current, services: { ...current.services, other: { ...current.services.other!, target: null } } }, current.generation);
  const temps = [...(await readdir(opts.stateDir)), ...(await readdir(store.historyDir))].filter((name) => name.endsWith('.tmp')).length;

  return {
    writers: opts.writers,
    killed,
    generations: head.generation - initial.generation,
    claimed: owners.size,
    conflicts: finished.reduce((sum, run) => sum + run.conflicts, 0),
    seconds,
    failures,
    freshGeneration: written.generation - head.generation,
    tempFilesAfter: temps,
  };
}
