import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { LocalFleet } from '../../src/fleet/local-fleet.js';
import type { ProcessSpec } from '../../src/fleet/fleet.js';
import { VERSIONS, describeTotals, modelTotals, playOnce, portBlocks, raceOf, type ModelTotals } from './model-run.js';
import type { Action } from './model-world.js';
import { plants } from './plants.js';

/**
 * Each bug of issue "One path for every change", put back into the shipped
 * code, is caught by the model: the same World, the same properties, with
 * actions drawn around what the bug needs. The shipped modules are wrapped
 * (vi.mock) to call the old behaviour (plants.ts) only while its plant is
 * on; with no plant on they are the shipped code, unchanged.
 */
vi.mock('../../src/ops/commit.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/ops/commit.js')>();
  const { plants: on, commitWithoutSettling } = await import('./plants.js');
  return { ...real, commitChange: (deps: Parameters<typeof real.commitChange>[0], op: string, fn: Parameters<typeof real.commitChange>[2], opts?: Parameters<typeof real.commitChange>[3]) => (on.has('F1') ? commitWithoutSettling(deps, fn) : real.commitChange(deps, op, fn, opts)) };
});
vi.mock('../../src/ops/act.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/ops/act.js')>();
  const { plants: on } = await import('./plants.js');
  return {
    ...real,
    // F1, part two: what a command started is deleted on its own say-so, without reading the head again.
    actAuthorised: async (deps: Parameters<typeof real.actAuthorised>[0], items: Parameters<typeof real.actAuthorised>[1]) => {
      if (!on.has('F1')) return real.actAuthorised(deps, items);
      return Promise.all(items.map(async (item) => {
        if (item.kind !== 'delete') return (await real.actAuthorised(deps, [item]))[0]!;
        await item.run((await deps.fleets.get(item.host))!);
        return { id: item.id, host: item.host, done: true as const, value: undefined as never };
      }));
    },
  };
});
vi.mock('../../src/core/names.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/names.js')>();
  const { plants: on } = await import('./plants.js');
  // F2: an incarnation named by the claiming generation alone, which a store that went back hands out again.
  return { ...real, newIncarnation: (generation: number, random: string) => (on.has('F2') ? `g${generation}` : real.newIncarnation(generation, random)) };
});
vi.mock('../../src/ops/prune.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/ops/prune.js')>();
  const { plants: on, oldPrune } = await import('./plants.js');
  return { ...real, prune: (deps: Parameters<typeof real.prune>[0], req: Parameters<typeof real.prune>[1]) => (on.has('F3') ? oldPrune(deps, req) : real.prune(deps, req)) };
});
vi.mock('../../src/core/plan-reconcile.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/plan-reconcile.js')>();
  const { plants: on, wallClockJudgement, withoutFactsOfFinished } = await import('./plants.js');
  return { ...real, planReconcile: (input: Parameters<typeof real.planReconcile>[0]) => {
    const judged = on.has('F4') ? wallClockJudgement(input) : input;
    return real.planReconcile(on.has('F7') ? withoutFactsOfFinished(judged) : judged);
  } };
});
vi.mock('../../src/fleet/pm2-start-options.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/fleet/pm2-start-options.js')>();
  const { plants: on } = await import('./plants.js');
  // F6: PM2 started with no restart delay, so a crash it is restarting reads `stopped` until the restart begins.
  return { ...real, pm2StartOptions: (app: Parameters<typeof real.pm2StartOptions>[0]) => {
    const options = real.pm2StartOptions(app);
    if (on.has('F6')) delete options.restart_delay;
    return options;
  } };
});

const realStart = LocalFleet.prototype.start;
const realRemove = LocalFleet.prototype.remove;
type WithPm2 = { pm2: { start(app: unknown): Promise<void>; delete(name: string | number): Promise<void>; describe(name: string): Promise<unknown> } };

const version = fc.constantFrom(...VERSIONS);
const deploy = fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constant('target' as const) }) as fc.Arbitrary<Action>;
const common: Array<fc.WeightedArbitrary<Action>> = [
  { weight: 3, arbitrary: deploy },
  { weight: 2, arbitrary: fc.constant({ kind: 'tick' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'beat' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('connect' as const), n: fc.integer({ min: 1, max: 3 }) }) },
];

/** Actions drawn around what each planted bug needs to show. */
const AROUND: Record<string, fc.Arbitrary<Action>> = {
  F1: fc.oneof(...common, { weight: 3, arbitrary: fc.record({ kind: fc.constant('fault' as const), fault: fc.constant('lose-reply' as const), skip: fc.integer({ min: 0, max: 2 }) }) as fc.Arbitrary<Action> }),
  F2: fc.oneof(...common, { weight: 2, arbitrary: fc.record({ kind: fc.constant('goBack' as const), n: fc.integer({ min: 1, max: 3 }) }) as fc.Arbitrary<Action> }),
  F3: fc.oneof(...common, { weight: 4, arbitrary: raceOf(fc.constant({ kind: 'prune' as const }), deploy) }),
  F4: fc.oneof(
    ...common,
    // A deploy from a CI runner whose clock is 90 s slow, watched by passes while it starts.
    { weight: 3, arbitrary: raceOf(fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constantFrom('target' as const, 'active' as const), skewMs: fc.constant(-90_000) }) as fc.Arbitrary<Action>, fc.constant({ kind: 'ticks' as const, n: 6, gapMs: 2 })) },
    // A promote from a clock 5 minutes slow: the old target's drain deadline is written 5 minutes early; terminals
    // keep it from draining, and 6 minutes later the deadline must not have come.
    { weight: 2, arbitrary: fc.tuple(version, version, fc.integer({ min: 1, max: 3 })).filter(([a, b]) => a !== b).map(([a, b, n]) => ({ kind: 'seq' as const, steps: [
      { kind: 'deploy' as const, version: a, role: 'target' as const }, { kind: 'connect' as const, n }, { kind: 'beat' as const },
      { kind: 'deploy' as const, version: b, role: 'active' as const }, { kind: 'promote' as const, version: b, skewMs: -300_000 },
      { kind: 'tick' as const }, { kind: 'advance' as const, ms: 6 * 60_000 }, { kind: 'tick' as const },
    ] })) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('promote' as const), version, skewMs: fc.constant(-300_000) }) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constant('active' as const) }) as fc.Arbitrary<Action> },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(30_000, 6 * 60_000) }) as fc.Arbitrary<Action> },
  ),
  F5: fc.oneof(...common, { weight: 1, arbitrary: fc.record({ kind: fc.constant('drainNow' as const), version }) as fc.Arbitrary<Action> }),
  F6: fc.oneof(
    ...common,
    // A process crashes and PM2 restarts it by itself, while passes look.
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('crash' as const), lists: fc.integer({ min: 1, max: 4 }) }) as fc.Arbitrary<Action> },
    { weight: 2, arbitrary: fc.constant({ kind: 'ticks' as const, n: 4, gapMs: 5 }) as fc.Arbitrary<Action> },
  ),
  // A deploy lands and a terminal connects; the head goes back to its claim before a pass saw it; the next deploy
  // finds that start abandoned and marks it failed.
  F7: fc.oneof(
    ...common,
    { weight: 3, arbitrary: fc.constantFrom('1.1.0', '1.2.0').map((v) => ({ kind: 'seq' as const, steps: [
      { kind: 'tick' as const }, { kind: 'deploy' as const, version: v, role: 'target' as const }, { kind: 'connect' as const, n: 1 }, { kind: 'beat' as const },
      { kind: 'goBack' as const, n: 1 }, { kind: 'deploy' as const, version: v, role: 'target' as const }, { kind: 'beat' as const }, { kind: 'ticks' as const, n: 3, gapMs: 5 },
    ] })) as fc.Arbitrary<Action> },
  ),
};

/** Plays random lists until the planted bug shows as a violation; how many runs and steps it took. */
async function catchPlant(name: keyof typeof AROUND, totals: ModelTotals, maxRuns = Number(process.env.SWITCHYARD_PLANT_RUNS ?? 200)): Promise<{ runs: number; steps: number; violation: string | undefined }> {
  const next = portBlocks(false);
  let runs = 0;
  let steps = 0;
  let violation: string | undefined;
  await fc.assert(fc.asyncProperty(fc.array(AROUND[name]!, { minLength: 6, maxLength: 20 }), async (actions) => {
    runs += 1;
    steps += actions.length;
    const found = await playOnce(actions, next(), 1, totals);
    violation ??= found[0];
    return found.length === 0;
  }), { numRuns: maxRuns, endOnFailure: true }).catch(() => undefined);
  return { runs, steps, violation };
}

describe('the model catches each planted bug', () => {
  const totals = modelTotals();
  const report: string[] = [];
  afterEach(() => {
    plants.clear();
    LocalFleet.prototype.start = realStart;
    LocalFleet.prototype.remove = realRemove;
  });
  afterAll(() => {
    console.log(`model, planted bugs: ${describeTotals(totals)}\n${report.join('\n')}`);
  });

  it.each([
    ['F1', 'a record whose reply was lost is taken for a failure, and what was started is deleted without reading the head'],
    ['F2', 'incarnations named by the generation alone, and a start that does not look whether PM2 lists the name'],
    ['F3', 'prune reads the head before listing PM2, looks once, and deletes without the executor'],
    ['F4', 'claims and drain deadlines judged by another machine\'s times on this wall clock; an expired until beats a live owner'],
    ['F5', 'PM2 is asked to delete by name, which it reads as a file for a version like 1.2.0-rc.yml'],
    ['F6', 'PM2 starts processes with no restart delay: a crash it is restarting is listed `stopped`, read as lost, and replaced'],
    ['F7', 'a process the policy is done with (failed) is deleted while terminals are on it, after the head went back under them'],
  ] as const)('%s: %s', async (name, what) => {
    plants.add(name);
    if (name === 'F2') {
      LocalFleet.prototype.start = async function (this: WithPm2, spec: ProcessSpec) {
        await this.pm2.start({ name: spec.id, script: spec.script, args: spec.args, cwd: spec.cwd, env: spec.env, killTimeoutMs: spec.killTimeoutMs });
      } as typeof realStart;
    }
    if (name === 'F5') {
      LocalFleet.prototype.remove = async function (this: WithPm2, id: string) {
        if ((await this.pm2.describe(id)) !== undefined) await this.pm2.delete(id);
      } as typeof realRemove;
    }
    const caught = await catchPlant(name, totals);
    report.push(`  ${name} (${what}): caught after ${caught.runs} run${caught.runs === 1 ? '' : 's'}, ${caught.steps} steps: ${caught.violation ?? 'NOT CAUGHT'}`);
    expect(caught.violation, `${name} was not caught in ${caught.runs} runs`).toBeDefined();
  }, 300_000);

  it('with no plant on, the same actions find nothing', async () => {
    const next = portBlocks(false);
    await fc.assert(fc.asyncProperty(fc.array(fc.oneof(...Object.values(AROUND)), { minLength: 6, maxLength: 20 }), async (actions) => {
      expect(await playOnce(actions, next(), 1, totals)).toEqual([]);
    }), { numRuns: Number(process.env.SWITCHYARD_MODEL_RUNS ?? 10), endOnFailure: true });
  }, 300_000);
});
