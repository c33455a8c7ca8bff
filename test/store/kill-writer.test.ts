import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PolicyStore } from '../../src/store/policy-store.js';
import { captureStderr, ChildTracker, lineReader, waitExit } from '../helpers/child-processes.js';
import { compileFixture, type CompiledFixture } from '../helpers/compile-fixture.js';

/**
 * "A killed writer never leaves a broken policy file" (DESIGN.md), proved
 * with real processes: a writer updating the policy as fast as it can is
 * killed with SIGKILL at a random moment, KILLS times; after every kill a
 * fresh store must read a valid policy, and while the writer runs this
 * process keeps reading too (a reader never sees a torn file).
 *
 * The writer is test/fixtures/policy-writer.ts compiled once to plain JS, so
 * a spawn costs ~120 ms (plain node + zod) rather than ~300 ms under tsx.
 */

const KILLS = 200;
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const tempNames = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith('.tmp'));
const tempFiles = async (dir: string) => (await tempNames(dir)).length;

describe('policy store: writer killed with SIGKILL', () => {
  const children = new ChildTracker();
  let work: string;
  let writer: CompiledFixture;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'switchyard-kill-'));
    writer = await compileFixture('test/fixtures/policy-writer.ts');
  });
  afterEach(() => children.killAll());
  afterAll(async () => {
    await children.killAll();
    await writer?.remove();
    await rm(work, { recursive: true, force: true });
  });

  it(`survives ${KILLS} kill -9s of a busy writer with 0 unreadable policy files`, { timeout: 120_000 }, async () => {
    const stateDir = join(work, 'state');
    const store = new PolicyStore(stateDir);
    await store.init();
    const started = performance.now();

    let unreadable = 0;
    let lockLeftBehind = 0;
    const tempLeftBehind = new Set<string>();
    let concurrentReads = 0;
    let lastGeneration = 0;
    const failures: string[] = [];

    for (let kill = 0; kill < KILLS; kill += 1) {
      const child = children.spawn(process.execPath, [writer.path, 'loop', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
      const stderr = captureStderr(child);
      await lineReader(child, stderr).next(15_000); // "ready <pid>"

      // Read while it writes, for a random 5–60 ms, then kill it wherever it is.
      const until = performance.now() + 5 + Math.random() * 55;
      while (performance.now() < until) {
        try {
          await new PolicyStore(stateDir).read();
          concurrentReads += 1;
        } catch (err) {
          unreadable += 1;
          failures.push(`while writing, kill ${kill}: ${(err as Error).message}`);
        }
        await sleep(1);
      }
      child.kill('SIGKILL');
      const exit = await waitExit(child);
      if (exit.signal !== 'SIGKILL') failures.push(`kill ${kill}: writer exited by itself (${JSON.stringify(exit)}): ${stderr()}`);

      if (await stat(join(stateDir, 'policy.lock')).then(() => true, () => false)) lockLeftBehind += 1;
      for (const name of [...(await tempNames(stateDir)), ...(await tempNames(store.historyDir))]) tempLeftBehind.add(name);
      try {
        const policy = await new PolicyStore(stateDir).read();
        if (policy.generation < lastGeneration) failures.push(`kill ${kill}: generation went back from ${lastGeneration} to ${policy.generation}`);
        lastGeneration = policy.generation;
      } catch (err) {
        unreadable += 1;
        failures.push(`after kill ${kill}: ${(err as Error).message}`);
      }
    }
    const killSeconds = (performance.now() - started) / 1000;

    // The history is whole too, and the live policy is its latest revision.
    const history = await store.history();
    const broken = history.filter((entry) => entry.broken !== undefined);
    expect(await store.revision(lastGeneration)).toEqual(await store.read());

    // Temp files from killed writers exist, and a later clean write sweeps those beside policy.json.
    const tempsBefore = await tempFiles(stateDir);
    const after = await store.update((policy) => policy);
    const tempsAfter = await tempFiles(stateDir);
    const historyTemps = await tempFiles(store.historyDir);

    console.log(
      `kill-9: ${KILLS} kills, ${unreadable} unreadable policy files; ` +
        `generation 0 → ${lastGeneration}, ${concurrentReads} reads during writes, ` +
        `${lockLeftBehind} kills left the lock behind (broken by the next writer), ${tempLeftBehind.size} temp files left by kills, ` +
        `${history.length} revisions (${broken.length} broken), temp files remaining: ${tempsBefore} → ${tempsAfter} beside policy.json, ${historyTemps} in history; ` +
        `${killSeconds.toFixed(1)} s`,
    );
    expect(failures).toEqual([]);
    expect(unreadable).toBe(0);
    expect(broken).toEqual([]);
    // Writers got real work done between kills, so kills landed among writes.
    expect(lastGeneration).toBeGreaterThan(KILLS);
    expect(after.generation).toBe(lastGeneration + 1);
    expect(tempsAfter).toBe(0);
    expect(historyTemps).toBe(0);
  });
});
