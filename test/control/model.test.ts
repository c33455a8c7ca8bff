import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { modelTotals, playModel, raceOf, simpleAction } from './model-run.js';

/**
 * The control plane's model-based test: random interleavings (some of them
 * truly concurrent) of deploy, promote, rollback, drain, drain --now,
 * reconcile passes, heartbeats, terminals arriving and leaving, time
 * passing, processes dying and commands killed mid-deploy, against the real
 * store on disk and a fleet double. After every step: the target has a live
 * process; no process is stopped without a committed claim, while its
 * version takes logins, or (drained) while it holds terminals; the history
 * is contiguous and never rewritten. At the end: policy and fleet converge.
 */
const RUNS = Number(process.env.SWITCHYARD_MODEL_RUNS ?? 12);

describe('control plane model', () => {
  const totals = modelTotals();
  afterAll(() => {
    console.log(`model: ${totals.runs} runs, ${totals.steps} steps (${totals.ticks} reconcile passes, ${totals.stops} stops, ${totals.crashes} commands killed mid-deploy, ${totals.conflicts} conflicts, ${totals.refused} refused)`);
  });

  it('keeps its invariants under random interleavings, and converges', async () => {
    const simple = simpleAction(1);
    await playModel({ routers: 1, runs: RUNS, totals, action: fc.oneof({ weight: 5, arbitrary: simple }, { weight: 2, arbitrary: raceOf(simple) }) });
  }, 240_000);
});
