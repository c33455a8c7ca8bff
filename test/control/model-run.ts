import fc from 'fast-check';
import { expect } from 'vitest';
import { World, type Action } from './model-world.js';

/**
 * What the model tests share: the random actions (commands, passes,
 * heartbeats, terminals, time, kills) and the property that plays them
 * against a World and checks it after every step and at the end.
 */

const VERSIONS = ['1.0.0', '1.1.0', '1.2.0'];
const version = fc.constantFrom(...VERSIONS);

/** One step; with several routers a pass may run on any of them, and the lease may move. */
export function simpleAction(routers: number): fc.Arbitrary<Action> {
  const routerSteps = routers > 1
    ? [
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), router: fc.integer({ min: 0, max: routers - 1 }) }) as fc.Arbitrary<Action> },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('failover' as const), afterMs: fc.constantFrom(0, 1, 2, 4, 8) }) as fc.Arbitrary<Action> },
    ]
    : [{ weight: 4, arbitrary: fc.constant({ kind: 'tick' as const }) as fc.Arbitrary<Action> }];
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constantFrom('target' as const, 'target' as const, 'active' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constant('target' as const), crash: fc.constantFrom('afterClaim' as const, 'afterStart' as const) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('promote' as const), version }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('rollback' as const), version }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), version }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drainNow' as const), version }) },
    ...routerSteps,
    { weight: 4, arbitrary: fc.constant({ kind: 'beat' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('connect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(2_000, 30_000, 11 * 60_000) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
  );
}

/** Two steps at once: each runs until its first await, then they interleave. */
export function raceOf(a: fc.Arbitrary<Action>, b: fc.Arbitrary<Action> = a): fc.Arbitrary<Action> {
  return fc.record({ kind: fc.constant('race' as const), a, b });
}

export type ModelTotals = Record<'runs' | 'steps' | 'conflicts' | 'refused' | 'crashes' | 'stops' | 'ticks' | 'failovers' | 'fenced', number>;

export function modelTotals(): ModelTotals {
  return { runs: 0, steps: 0, conflicts: 0, refused: 0, crashes: 0, stops: 0, ticks: 0, failovers: 0, fenced: 0 };
}

/**
 * Plays `runs` random action lists, each against a fresh World of
 * `routers` reconcile loops, checking after every step and at the end.
 * Port blocks of 200 in 11000-16199 (below the remote suites at 17300+, the
 * rollout projects at 21000+ and the kernel's ephemeral range): one router
 * takes them from the bottom, several from the top, so the two tests never
 * share a block when they run at once.
 */
export async function playModel(opts: { routers: number; runs: number; action: fc.Arbitrary<Action>; totals: ModelTotals }): Promise<void> {
  const fromTop = opts.routers > 1;
  let portBase = fromTop ? 16_000 - Math.floor(Math.random() * 25) * 200 : 11_000 + Math.floor(Math.random() * 25) * 200;
  await fc.assert(
    fc.asyncProperty(fc.array(opts.action, { minLength: 5, maxLength: 24 }), async (actions) => {
      if (fromTop) portBase = portBase <= 11_000 ? 16_000 : portBase - 200;
      else portBase = portBase >= 16_000 ? 11_000 : portBase + 200;
      const world = await World.create(portBase, opts.routers);
      try {
        for (const [i, a] of actions.entries()) {
          await world.run(a);
          await world.check(`step ${i} ${JSON.stringify(a)}`);
        }
        await world.converge();
        const t = opts.totals;
        t.runs += 1;
        t.steps += actions.length;
        for (const k of ['conflicts', 'refused', 'crashes', 'stops', 'ticks', 'failovers'] as const) t[k] += world.counts[k];
        t.fenced += world.store.fenced;
        expect(world.violations).toEqual([]);
      } finally {
        await world.close();
      }
    }),
    { numRuns: opts.runs, endOnFailure: true },
  );
}
