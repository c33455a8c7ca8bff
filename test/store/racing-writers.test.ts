import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { racingWriters } from '../helpers/racing-writers.js';
import { useWriterSuite } from '../helpers/writer-suite.js';

/**
 * Multi-process writers with no lock (issue 10): 8 real processes race to
 * commit, half of them SIGKILLed at random instants. Each success owns
 * exactly one generation, the history is 0..head with no gap and no file
 * rewritten, and a fresh write afterwards succeeds first time with no
 * repair. The run is test/helpers/racing-writers.ts.
 */

const WRITERS = 8;
const UPDATES = 30;
const KILLS = 4;

describe('policy store: racing writer processes, some killed', () => {
  const suite = useWriterSuite('switchyard-race-');

  it(`${WRITERS} writers × ${UPDATES} updates, ${KILLS} SIGKILLed at random: one generation per success, contiguous unchanged history, next write needs no repair`, { timeout: 60_000 }, async () => {
    const run = await racingWriters({
      children: suite.children,
      writer: suite.writer(),
      stateDir: join(suite.work(), 'state'),
      writers: WRITERS,
      updates: UPDATES,
      kills: KILLS,
      killWithinMs: 1_500,
      timeoutMs: 45_000,
    });
    console.log(
      `racing writers: ${run.writers} writers, ${run.killed} killed mid-run, ${run.generations} generations committed, ${run.claimed} claimed by a printed win ` +
        `(the rest by writers killed between commit and print), ${run.conflicts} conflicts retried by the writers that finished; ${run.seconds.toFixed(2)} s; ` +
        `fresh write +${run.freshGeneration} generation, ${run.tempFilesAfter} temp files left`,
    );
    expect(run.failures).toEqual([]);
    // Every printed win is a committed generation; at most one unprinted commit per killed writer.
    expect(run.generations).toBeGreaterThanOrEqual(run.claimed);
    expect(run.generations - run.claimed).toBeLessThanOrEqual(run.killed);
    expect(run.claimed).toBeGreaterThanOrEqual((WRITERS - KILLS) * UPDATES);
    expect(run.freshGeneration).toBe(1);
    expect(run.tempFilesAfter).toBe(0);
  });
});
