import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import type { Action } from './model-world.js';
import { describeTotals, modelTotals, playModel, raceOf, simpleAction } from './model-run.js';

/**
 * The control plane's model-based test with two routers: the same world as
 * model.test.ts, with two reconcile loops sharing the store and the tally,
 * and the drain leader's lease passing between them (fencing token up by
 * one each time), also in the middle of a pass. On top of the single-router
 * invariants: a router's stop happens only under a claim of the router
 * holding the lease, and a deposed router's commits are refused.
 *
 * Below, as in the single-router test: random interleavings (some of them
 * truly concurrent) of deploy, promote, rollback, drain, drain --now,
 * reconcile passes, heartbeats, terminals arriving and leaving, time
 * passing, processes dying and commands killed mid-deploy, against the real
 * store on disk and a fleet double. After every step: the target has a live
 * process; no process is stopped without a committed claim, while its
 * version takes logins, or (drained) while it holds terminals; the history
 * is contiguous and never rewritten. At the end: policy and fleet converge.
 */
const RUNS = Number(process.env.SWITCHYARD_MODEL_RUNS ?? 40);

// The lease changing hands in the middle of the leader's pass.
const handover: fc.Arbitrary<Action> = raceOf(
  fc.constant({ kind: 'tick' as const }),
  fc.record({ kind: fc.constant('failover' as const), afterMs: fc.constantFrom(0, 1, 2, 3, 5, 8, 13) }),
);

describe('control plane model, two routers and a lease', () => {
  const totals = modelTotals();
  afterAll(() => {
    console.log(`model, two routers: ${describeTotals(totals)}`);
  });

  it('keeps its invariants under random interleavings, and converges', async () => {
    const simple = simpleAction(2);
    await playModel({
      routers: 2,
      runs: RUNS,
      totals,
      action: fc.oneof({ weight: 5, arbitrary: simple }, { weight: 2, arbitrary: raceOf(simple) }, { weight: 2, arbitrary: handover }),
    });
  }, 300_000);
});
