import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { concurrentWriters } from '../helpers/policy-writer-runs.js';
import { useWriterSuite } from '../helpers/writer-suite.js';

/**
 * "Two concurrent writers never lose an update" (DESIGN.md), with four real
 * processes released at the same instant, each adding UPDATES distinct
 * process entries one update at a time (retrying conflicts). Every marker
 * must be in the final policy, the generation must have moved by exactly
 * the number of updates, and the history must show one marker added per
 * revision, with none lost or doubled anywhere along the way. The run is
 * test/helpers/policy-writer-runs.ts (the reliability suite runs 8 writers).
 */

const WRITERS = 4;
const UPDATES = 50;
const TOTAL = WRITERS * UPDATES;

describe('policy store: concurrent writer processes', () => {
  const suite = useWriterSuite('switchyard-concurrent-');

  it(`${WRITERS} writers × ${UPDATES} updates: all ${TOTAL} land, generation moves by exactly ${TOTAL}`, { timeout: 60_000 }, async () => {
    const run = await concurrentWriters({ children: suite.children, writer: suite.writer(), stateDir: join(suite.work(), 'state'), writers: WRITERS, updates: UPDATES, timeoutMs: 45_000 });
    const { initialGeneration: initial, final } = run;

    console.log(
      `concurrent writers: ${WRITERS} × ${UPDATES} updates in ${run.seconds.toFixed(2)} s; generation ${initial} → ${final.generation}; ` +
        `${TOTAL - run.missing.length}/${TOTAL} markers present; ${run.newRevisions.length} new revisions; ${run.conflicts} conflicts retried ` +
        `(${run.results.map((r) => r.conflicts).join('/')})`,
    );
    expect(run.badExits).toEqual([]);
    expect(run.results.map((r) => r.added)).toEqual(Array(WRITERS).fill(UPDATES));
    expect(run.missing).toEqual([]);
    expect(run.markersPresent).toBe(TOTAL);
    expect(final.generation).toBe(initial + TOTAL);
    expect(run.newRevisions).toEqual(Array.from({ length: TOTAL }, (_, k) => initial + 1 + k));
    expect(run.brokenRevisions).toBe(0);
    expect(run.badSteps).toEqual([]);
  });
});
