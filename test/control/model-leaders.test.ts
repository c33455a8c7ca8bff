import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { World, type Action } from './model-world.js';

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
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0'];
const version = fc.constantFrom(...VERSIONS);

const simple: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constantFrom('target' as const, 'target' as const, 'active' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constant('target' as const), crash: fc.constantFrom('afterClaim' as const, 'afterStart' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('promote' as const), version }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rollback' as const), version }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), version }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drainNow' as const), version }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), router: fc.constantFrom(0, 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('failover' as const), afterMs: fc.constantFrom(0, 1, 2, 4, 8) }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'beat' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('connect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(2_000, 30_000, 11 * 60_000) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
);
// The lease changing hands in the middle of the leader's pass.
const handover: fc.Arbitrary<Action> = fc.record({
  kind: fc.constant('race' as const),
  a: fc.constant({ kind: 'tick' as const }),
  b: fc.record({ kind: fc.constant('failover' as const), afterMs: fc.constantFrom(0, 1, 2, 3, 5, 8, 13) }),
});
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: simple },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('race' as const), a: simple, b: simple }) },
  { weight: 2, arbitrary: handover },
);

describe('control plane model, two routers and a lease', () => {
  const totals = { runs: 0, steps: 0, conflicts: 0, refused: 0, crashes: 0, stops: 0, ticks: 0, failovers: 0, fenced: 0 };
  afterAll(() => {
    console.log(`model, two routers: ${totals.runs} runs, ${totals.steps} steps (${totals.ticks} reconcile passes, ${totals.failovers} lease changes, ${totals.fenced} commits fenced, ${totals.stops} stops, ${totals.crashes} commands killed mid-deploy, ${totals.conflicts} conflicts, ${totals.refused} refused)`);
  });

  it('keeps its invariants under random interleavings, and converges', async () => {
    // 11000-16199 (the single-router model takes its blocks from the bottom, this one from the top): below the remote suites (17300+), the rollout projects (21000+) and the kernel's ephemeral range.
    let portBase = 16_000 - Math.floor(Math.random() * 25) * 200;
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 24 }), async (actions) => {
        portBase = portBase <= 11_000 ? 16_000 : portBase - 200;
        const world = await World.create(portBase, 2);
        try {
          for (const [i, a] of actions.entries()) {
            await world.run(a);
            await world.check(`step ${i} ${JSON.stringify(a)}`);
          }
          await world.converge();
          totals.runs += 1;
          totals.steps += actions.length;
          for (const k of ['conflicts', 'refused', 'crashes', 'stops', 'ticks', 'failovers'] as const) totals[k] += world.counts[k];
          totals.fenced += world.store.fenced;
          expect(world.violations).toEqual([]);
        } finally {
          await world.close();
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 240_000);
});
