import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyStore } from '../../src/store/policy-store.js';
import { concurrentWriters, killWriterLoop, type KillLoopStats } from '../helpers/policy-writer-runs.js';
import { racingWriters } from '../helpers/racing-writers.js';
import { countTempFiles as tempFiles, useWriterSuite } from '../helpers/writer-suite.js';
import { report } from './support/project.js';
import { SIZE } from './support/size.js';

/**
 * The store's two promises at the sizes, with real processes
 * (test/fixtures/policy-writer.ts through test/helpers/policy-writer-runs.ts,
 * the loops test/store runs smaller):
 * - a policy writer killed with SIGKILL at random points never leaves an
 *   unreadable policy file (nor a broken revision in the history);
 * - concurrent writers retrying on conflict never lose an update;
 * - racing writers, half of them SIGKILLed at random instants, each own
 *   exactly one generation per success, leave a contiguous history that is
 *   never rewritten, and the next write needs no repair.
 * The kills run in two loops at once, each on its own state folder, so the
 * two cores are both busy starting writers.
 */

const LOOPS = 2;
const suite = useWriterSuite('sy-rel-writers-');

describe('policy writers', () => {
  it(`${SIZE.writerKills} SIGKILLs of a busy writer at random points: 0 unreadable policy files`, async () => {
    const started = performance.now();
    const stores = Array.from({ length: LOOPS }, (_, i) => new PolicyStore(join(suite.work(), `kill-${i}`)));
    for (const store of stores) await store.init();
    const share = (i: number) => Math.floor(SIZE.writerKills / LOOPS) + (i < SIZE.writerKills % LOOPS ? 1 : 0);
    // Kill anywhere from its first write seen to ~60 ms into a run of writes.
    const loops: KillLoopStats[] = await Promise.all(
      stores.map((store, i) => killWriterLoop({ children: suite.children, writer: suite.writer(), stateDir: store.stateDir, kills: share(i), runMs: [0, 60] })),
    );
    const seconds = (performance.now() - started) / 1000;

    let broken = 0;
    let revisions = 0;
    const afterChecks: string[] = [];
    for (const [i, store] of stores.entries()) {
      const history = await store.history();
      revisions += history.length;
      broken += history.filter((entry) => entry.broken !== undefined).length;
      const latest = await store.read();
      if (latest.generation !== loops[i]!.lastGeneration) afterChecks.push(`loop ${i}: live generation ${latest.generation}, last seen ${loops[i]!.lastGeneration}`);
      expect(await store.revision(latest.generation)).toEqual(latest);
      // A clean write after all those kills works, and sweeps the temp files they left beside policy.json.
      const after = await store.update((policy) => policy);
      if (after.generation !== latest.generation + 1) afterChecks.push(`loop ${i}: clean write made generation ${after.generation}`);
      if ((await tempFiles(store.stateDir)) !== 0) afterChecks.push(`loop ${i}: temp files left beside policy.json after a clean write`);
    }
    const sum = (pick: (s: KillLoopStats) => number) => loops.reduce((n, s) => n + pick(s), 0);
    const kills = sum((s) => s.kills);
    const unreadable = sum((s) => s.unreadable);
    const generations = sum((s) => s.lastGeneration);
    report(
      `policy-writers kill (${SIZE.name})`,
      `${kills} SIGKILLs of a busy writer (${LOOPS} loops at once), ${unreadable} unreadable policy files, ${broken} broken revisions of ${revisions}; ` +
        `${generations} writes landed between kills, ${sum((s) => s.concurrentReads)} reads during writes, ` +
        `${sum((s) => s.tempLeftBehind.size)} temp files left by kills; ${seconds.toFixed(1)} s`,
    );
    expect(loops.flatMap((s) => s.failures)).toEqual([]);
    expect(kills).toBe(SIZE.writerKills);
    expect(unreadable).toBe(0);
    expect(broken).toBe(0);
    expect(afterChecks).toEqual([]);
    // Kills landed among writes: each writer was seen writing before it was killed.
    expect(generations).toBeGreaterThanOrEqual(SIZE.writerKills);
  });

  const total = SIZE.writers * SIZE.updatesPerWriter;
  it(`${SIZE.writers} concurrent writers × ${SIZE.updatesPerWriter} updates with retry on conflict: 0 lost updates`, async () => {
    const run = await concurrentWriters({
      children: suite.children,
      writer: suite.writer(),
      stateDir: join(suite.work(), 'concurrent'),
      writers: SIZE.writers,
      updates: SIZE.updatesPerWriter,
      timeoutMs: 600_000,
    });
    const lost = total - run.markersPresent;
    report(
      `policy-writers concurrent (${SIZE.name})`,
      `${SIZE.writers} writers × ${SIZE.updatesPerWriter} updates = ${total} in ${run.seconds.toFixed(1)} s; generation ${run.initialGeneration} → ${run.final.generation} ` +
        `(moved by ${run.final.generation - run.initialGeneration}); ${run.markersPresent}/${total} markers present, ${lost} lost updates; ` +
        `${run.conflicts} conflicts retried (${run.results.map((r) => r.conflicts).join('/')}); ${run.newRevisions.length} new revisions, ${run.brokenRevisions} broken`,
    );
    expect(run.badExits).toEqual([]);
    expect(run.results.map((r) => r.added)).toEqual(Array(SIZE.writers).fill(SIZE.updatesPerWriter));
    expect(run.missing).toEqual([]);
    expect(run.markersPresent).toBe(total);
    expect(run.final.generation).toBe(run.initialGeneration + total);
    expect(run.newRevisions).toEqual(Array.from({ length: total }, (_, k) => run.initialGeneration + 1 + k));
    expect(run.brokenRevisions).toBe(0);
    expect(run.badSteps).toEqual([]);
  });

  it(`${SIZE.writers} racing writers × ${SIZE.updatesPerWriter} updates, half SIGKILLed at random: one generation per success, history contiguous and unchanged`, async () => {
    const kills = Math.floor(SIZE.writers / 2);
    const run = await racingWriters({
      children: suite.children,
      writer: suite.writer(),
      stateDir: join(suite.work(), 'racing'),
      writers: SIZE.writers,
      updates: SIZE.updatesPerWriter,
      kills,
      killWithinMs: 3_000,
      timeoutMs: 600_000,
    });
    report(
      `policy-writers racing (${SIZE.name})`,
      `${run.writers} writers, ${run.killed} killed mid-run, ${run.generations} generations committed, ${run.claimed} claimed by a printed win, ` +
        `${run.conflicts} conflicts retried by the writers that finished; ${run.failures.length} broken promises; fresh write +${run.freshGeneration}; ${run.seconds.toFixed(1)} s`,
    );
    expect(run.failures).toEqual([]);
    expect(run.generations - run.claimed).toBeLessThanOrEqual(run.killed);
    expect(run.claimed).toBeGreaterThanOrEqual((SIZE.writers - kills) * SIZE.updatesPerWriter);
    expect(run.freshGeneration).toBe(1);
    expect(run.tempFilesAfter).toBe(0);
  });
});
