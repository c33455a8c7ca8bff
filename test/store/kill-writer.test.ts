import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyStore } from '../../src/store/policy-store.js';
import { killWriterLoop } from '../helpers/policy-writer-runs.js';
import { countTempFiles as tempFiles, useWriterSuite } from '../helpers/writer-suite.js';

/**
 * "A killed writer never leaves a broken policy file" (DESIGN.md), proved
 * with real processes: a writer updating the policy as fast as it can is
 * killed with SIGKILL at a random moment, KILLS times; after every kill a
 * fresh store must read a valid policy, and while the writer runs this
 * process keeps reading too (a reader never sees a torn file).
 *
 * The writer is test/fixtures/policy-writer.ts compiled once to plain JS, so
 * a spawn costs ~120 ms (plain node + zod) rather than ~300 ms under tsx.
 * The loop is test/helpers/policy-writer-runs.ts (the reliability suite runs
 * it larger: test/reliability/policy-writers.test.ts).
 */

const KILLS = 100;

describe('policy store: writer killed with SIGKILL', () => {
  const suite = useWriterSuite('switchyard-kill-');

  it(`survives ${KILLS} kill -9s of a busy writer with 0 unreadable policy files`, { timeout: 240_000 }, async () => {
    const stateDir = join(suite.work(), 'state');
    const store = new PolicyStore(stateDir);
    await store.init();
    const started = performance.now();
    const stats = await killWriterLoop({ children: suite.children, writer: suite.writer(), stateDir, kills: KILLS });
    const killSeconds = (performance.now() - started) / 1000;

    // The history is whole too, and the live policy is its latest revision.
    const history = await store.history();
    const broken = history.filter((entry) => entry.broken !== undefined);
    expect(await store.revision(stats.lastGeneration)).toEqual(await store.read());

    // Temp files from killed writers exist, and a later clean write sweeps those beside policy.json.
    const tempsBefore = await tempFiles(stateDir);
    const after = await store.update((policy) => policy);
    const tempsAfter = await tempFiles(stateDir);
    const historyTemps = await tempFiles(store.historyDir);

    console.log(
      `kill-9: ${KILLS} kills, ${stats.unreadable} unreadable policy files; ` +
        `generation 0 → ${stats.lastGeneration}, ${stats.concurrentReads} reads during writes, ` +
        `${stats.tempLeftBehind.size} temp files left by kills, ` +
        `${history.length} revisions (${broken.length} broken), temp files remaining: ${tempsBefore} → ${tempsAfter} beside policy.json, ${historyTemps} in history; ` +
        `${killSeconds.toFixed(1)} s`,
    );
    expect(stats.failures).toEqual([]);
    expect(stats.unreadable).toBe(0);
    expect(broken).toEqual([]);
    // Every writer was seen writing before its kill, so kills landed among writes.
    expect(stats.lastGeneration).toBeGreaterThanOrEqual(KILLS);
    expect(after.generation).toBe(stats.lastGeneration + 1);
    expect(tempsAfter).toBe(0);
    expect(historyTemps).toBe(0);
  });
});
