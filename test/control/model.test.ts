import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { World, type Action } from './model-world.js';

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
const VERSIONS = ['1.0.0', '1.1.0', '1.2.0'];
const version = fc.constantFrom(...VERSIONS);

const simple: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constantFrom('target' as const, 'target' as const, 'active' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constant('target' as const), crash: fc.constantFrom('afterClaim' as const, 'afterStart' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('promote' as const), version }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rollback' as const), version }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), version }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drainNow' as const), version }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'tick' as const }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'beat' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('connect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(2_000, 30_000, 11 * 60_000) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
);
const action: fc.Arbitrary<Action> = fc.oneof({ weight: 5, arbitrary: simple }, { weight: 2, arbitrary: fc.record({ kind: fc.constant('race' as const), a: simple, b: simple }) });

describe('control plane model', () => {
  const totals = { runs: 0, steps: 0, conflicts: 0, refused: 0, crashes: 0, stops: 0, ticks: 0 };
  afterAll(() => {
    console.log(`model: ${totals.runs} runs, ${totals.steps} steps (${totals.ticks} reconcile passes, ${totals.stops} stops, ${totals.crashes} commands killed mid-deploy, ${totals.conflicts} conflicts, ${totals.refused} refused)`);
  });

  it('keeps its invariants under random interleavings, and converges', async () => {
    // 11000-16199: below the remote suites (17300+), the rollout projects (21000+) and the kernel's ephemeral range.
    let portBase = 11_000 + Math.floor(Math.random() * 25) * 200;
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 24 }), async (actions) => {
        portBase = portBase >= 16_000 ? 11_000 : portBase + 200;
        const world = await World.create(portBase);
        try {
          for (const [i, a] of actions.entries()) {
            await world.run(a);
            await world.check(`step ${i} ${JSON.stringify(a)}`);
          }
          await world.converge();
          totals.runs += 1;
          totals.steps += actions.length;
          for (const k of ['conflicts', 'refused', 'crashes', 'stops', 'ticks'] as const) totals[k] += world.counts[k];
          expect(world.violations).toEqual([]);
        } finally {
          await world.close();
        }
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 240_000);
});
