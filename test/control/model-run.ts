import fc from 'fast-check';
import { expect } from 'vitest';
import { prune } from '../../src/ops/prune.js';
import { rolloutCounts, type RolloutCounts } from './model-rollouts.js';
import { World, type Action } from './model-world.js';

/**
 * What the model tests share: the random actions (commands on skewed
 * clocks and other hosts, passes, heartbeats, terminals, time, kills,
 * store and PM2 faults, a head that goes back) and the property that plays
 * them against a World, checking after every step and at the end.
 */

/** One version reads as a file name to PM2 (`…rc.yml`): stopping it must still work. */
export const VERSIONS = ['1.0.0', '1.1.0', '1.2.0-rc.yml'];
const version = fc.constantFrom(...VERSIONS);
/** A command's clock: right, or 45 s off either way (past the 30 s allowance); sometimes on another host. */
const placement = fc.record({ skewMs: fc.constantFrom(0, 0, -45_000, 45_000), remote: fc.constantFrom(false, false, false, true) });

export function commandAction(): fc.Arbitrary<Action> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constantFrom('target' as const, 'target' as const, 'active' as const, 'canary' as const) }), placement).map(([a, p]) => ({ ...a, ...p }) as Action) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constant('target' as const), crash: fc.constantFrom('afterClaim' as const, 'afterStart' as const) }) },
    { weight: 2, arbitrary: fc.tuple(fc.record({ kind: fc.constant('promote' as const), version }), placement).map(([a, p]) => ({ ...a, ...p }) as Action) },
    { weight: 2, arbitrary: fc.tuple(fc.record({ kind: fc.constant('rollback' as const), version }), placement).map(([a, p]) => ({ ...a, ...p }) as Action) },
    { weight: 1, arbitrary: fc.tuple(fc.record({ kind: fc.constant('drain' as const), version }), placement).map(([a, p]) => ({ ...a, ...p }) as Action) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drainNow' as const), version }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const) }) },
    ...rolloutCommands(),
  );
}

/** `deploy --steps` (sometimes killed mid-deploy) and `rollout pause|resume|abort|promote`, each on any clock and host. */
export function rolloutCommands(weight = 1): Array<fc.WeightedArbitrary<Action>> {
  return [
    { weight: 2 * weight, arbitrary: fc.tuple(fc.record({ kind: fc.constant('deploySteps' as const), version }), placement).map(([a, p]) => ({ ...a, ...p }) as Action) },
    { weight, arbitrary: fc.record({ kind: fc.constant('deploySteps' as const), version, crash: fc.constantFrom('afterClaim' as const, 'afterStart' as const) }) as fc.Arbitrary<Action> },
    { weight, arbitrary: fc.tuple(fc.record({ kind: fc.constant('steer' as const), verb: fc.constantFrom('pause' as const, 'resume' as const, 'abort' as const, 'promote' as const) }), placement).map(([a, p]) => ({ ...a, ...p }) as Action) },
  ];
}

/** A pass of a rollout loop (any router's, with several), and a version's traffic turning good, failing, silent or unreadable. */
export function rolloutSteps(routers: number, weight = 1): Array<fc.WeightedArbitrary<Action>> {
  return [
    // Mostly the lease holder's pass (the one that judges), often after an interval; with several routers, sometimes another's.
    { weight: 2 * weight, arbitrary: fc.constant({ kind: 'rolloutTick' as const }) as fc.Arbitrary<Action> },
    { weight: 2 * weight, arbitrary: fc.constant({ kind: 'interval' as const }) as fc.Arbitrary<Action> },
    ...(routers > 1 ? [{ weight, arbitrary: fc.record({ kind: fc.constant('rolloutTick' as const), router: fc.integer({ min: 0, max: routers - 1 }) }) as fc.Arbitrary<Action> }] : []),
    { weight, arbitrary: fc.record({ kind: fc.constant('health' as const), health: fc.constantFrom('good' as const, 'failing' as const, 'failing' as const, 'silent' as const, 'unreadable' as const) }) as fc.Arbitrary<Action> },
  ];
}

/** One step; with several routers a pass may run on any of them, and the lease may move. */
export function simpleAction(routers: number): fc.Arbitrary<Action> {
  const routerSteps = routers > 1
    ? [
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), router: fc.integer({ min: 0, max: routers - 1 }) }) as fc.Arbitrary<Action> },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('failover' as const), afterMs: fc.constantFrom(0, 1, 2, 4, 8) }) as fc.Arbitrary<Action> },
    ]
    : [{ weight: 4, arbitrary: fc.constant({ kind: 'tick' as const }) as fc.Arbitrary<Action> }];
  return fc.oneof(
    { weight: 11, arbitrary: commandAction() },
    ...routerSteps,
    { weight: 4, arbitrary: fc.constant({ kind: 'beat' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('connect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), n: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(2_000, 30_000, 11 * 60_000) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'killTarget' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), lists: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('fault' as const), fault: fc.constantFrom('lose-reply' as const, 'fail-before' as const, 'pending' as const, 'read' as const, 'staleList' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('goBack' as const), n: fc.integer({ min: 1, max: 3 }) }) },
    ...rolloutSteps(routers),
  );
}

/** Two steps at once: each runs until its first await, then they interleave. */
export function raceOf(a: fc.Arbitrary<Action>, b: fc.Arbitrary<Action> = a): fc.Arbitrary<Action> {
  return fc.record({ kind: fc.constant('race' as const), a, b });
}

export type ModelTotals = Record<'runs' | 'steps' | 'conflicts' | 'refused' | 'crashes' | 'stops' | 'ticks' | 'rolloutTicks' | 'failovers' | 'fenced' | 'unknown' | 'pruned' | 'lostReplies' | 'pendingLanded' | 'wentBack', number> & { rollouts: RolloutCounts };

export function modelTotals(): ModelTotals {
  return { runs: 0, steps: 0, conflicts: 0, refused: 0, crashes: 0, stops: 0, ticks: 0, rolloutTicks: 0, failovers: 0, fenced: 0, unknown: 0, pruned: 0, lostReplies: 0, pendingLanded: 0, wentBack: 0, rollouts: rolloutCounts() };
}

export function describeTotals(t: ModelTotals): string {
  const r = t.rollouts;
  return `${t.runs} runs, ${t.steps} steps (${t.ticks} reconcile passes, ${t.stops} stops, ${t.crashes} commands killed, ${t.conflicts} conflicts, ${t.refused} refused, ${t.unknown} commits left unknown; faults: ${t.lostReplies} replies lost after landing, ${t.pendingLanded} writes landed late, ${t.wentBack} heads went back; ${t.failovers} lease changes, ${t.fenced} commits fenced; ${t.pruned} orphans pruned; rollouts: ${t.rolloutTicks} rollout passes, ${r.started} started, ${r.verdicts} verdicts recorded, ${r.advanced} steps advanced, ${r.completed} completed, ${r.aborted} aborted, ${r.paused} paused by the plan, ${r.settled} ended by another change, ${r.steered} steered by hand)`;
}

/** Plays one list of actions against a fresh World; returns its violations. */
export async function playOnce(actions: readonly Action[], portBase: number, routers: number, totals?: ModelTotals): Promise<string[]> {
  const world = await World.create(portBase, routers);
  try {
    for (const [i, a] of actions.entries()) {
      await world.run(a);
      await world.check(`step ${i} ${JSON.stringify(a)}`);
    }
    await world.converge(async () => {
      // The operator reads the alarm and confirms: `status --prune --yes`.
      await world.command('prune', {}, (deps) => prune(deps, { remove: true, confirmed: true, pauseMs: 2, ...(world.regressedFrom >= 0 ? { acknowledge: world.regressedFrom } : {}) }));
    });
    if (totals !== undefined) {
      totals.runs += 1;
      totals.steps += actions.length;
      for (const k of ['conflicts', 'refused', 'crashes', 'stops', 'ticks', 'rolloutTicks', 'failovers', 'unknown', 'pruned'] as const) totals[k] += world.counts[k];
      for (const [k, n] of Object.entries(world.rollouts.counts)) totals.rollouts[k as keyof RolloutCounts] += n;
      totals.fenced += world.store.fenced;
      totals.lostReplies += world.store.counts.lostReplies;
      totals.pendingLanded += world.store.counts.pendingLanded;
      totals.wentBack += world.store.counts.wentBack;
    }
    return [...world.violations];
  } finally {
    await world.close();
  }
}

/**
 * Port blocks of 200 in 11000-16199 (below the remote suites at 17300+, the
 * rollout projects at 21000+ and the kernel's ephemeral range): one router
 * takes them from the bottom, several from the top, so two model tests
 * never share a block when they run at once.
 */
export function portBlocks(fromTop: boolean): () => number {
  let portBase = fromTop ? 16_000 - Math.floor(Math.random() * 25) * 200 : 11_000 + Math.floor(Math.random() * 25) * 200;
  return () => {
    if (fromTop) portBase = portBase <= 11_000 ? 16_000 : portBase - 200;
    else portBase = portBase >= 16_000 ? 11_000 : portBase + 200;
    return portBase;
  };
}

/** Plays `runs` random action lists, each against a fresh World of `routers` reconcile loops. */
export async function playModel(opts: { routers: number; runs: number; action: fc.Arbitrary<Action>; totals: ModelTotals; seed?: number }): Promise<void> {
  const next = portBlocks(opts.routers > 1);
  await fc.assert(
    fc.asyncProperty(fc.array(opts.action, { minLength: 5, maxLength: 24 }), async (actions) => {
      expect(await playOnce(actions, next(), opts.routers, opts.totals)).toEqual([]);
    }),
    { numRuns: opts.runs, endOnFailure: true, ...(opts.seed === undefined ? {} : { seed: opts.seed }) },
  );
}
