import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { describeTotals, modelTotals, playModel, raceOf, simpleAction } from './model-run.js';

/**
 * The control plane's model-based test: random interleavings (some truly
 * concurrent) of the shipped operations (deploy, promote, rollback, drain,
 * drain --now, prune) and the shipped reconcile loop, with heartbeats,
 * terminals arriving and leaving, time passing, processes dying, commands
 * killed mid-deploy, commands on clocks 45 s off and on other hosts,
 * replies lost after a commit landed, writes that land late, failed reads,
 * stale PM2 lists and a store whose head goes back, against the real file
 * store and the real LocalFleet on a double of PM2 (model-world.ts).
 *
 * After every step and at every stop: the target keeps a live process; no
 * process is stopped without a committed claim, as the last live one of
 * the target or canary, as drained while it holds terminals, or at a
 * deadline a clock made early; no running process is restarted by a
 * start; no live command's claim is marked abandoned; no committed
 * generation is rewritten. At the end: policy and fleet converge.
 */
const RUNS = Number(process.env.SWITCHYARD_MODEL_RUNS ?? 12);

describe('control plane model', () => {
  const totals = modelTotals();
  afterAll(() => {
    console.log(`model: ${describeTotals(totals)}`);
  });

  it('keeps its invariants under random interleavings and faults, and converges', async () => {
    const simple = simpleAction(1);
    await playModel({ routers: 1, runs: RUNS, totals, action: fc.oneof({ weight: 5, arbitrary: simple }, { weight: 2, arbitrary: raceOf(simple) }) });
  }, 300_000);
});
