import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { Action } from './model-world.js';
import { VERSIONS, describeTotals, modelTotals, playOnce, portBlocks, raceOf, rolloutCommands, rolloutSteps, type ModelTotals } from './model-run.js';
import { plants } from './plants.js';

/**
 * The control plane's model with progressive rollouts at its heart: the
 * shipped `deploy --steps`, `rollout pause|resume|abort|promote` and the
 * shipped rollout loop of two routers sharing a lease, interleaved (some
 * truly concurrent) with deploys, promotes, rollbacks, reconcile passes,
 * heartbeats, time passing, commands killed mid-deploy, leader changes in
 * the middle of a pass, the store's faults and a canary's traffic turning
 * good, failing, silent or unreadable. On top of every invariant of
 * model.test.ts (model-rollouts.ts): no step is committed twice; an abort
 * leaves the target with a live process; nothing is promoted by the plan
 * without a passing verdict. Two planted bugs show these can fail.
 */
vi.mock('../../src/core/rollout-step.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/rollout-step.js')>();
  const { plants: on } = await import('./plants.js');
  return {
    ...real,
    // R1: once the pause is over, the step advances whatever the verdict (recorded as it was).
    stepRollout: (plan: Parameters<typeof real.stepRollout>[0], progress: Parameters<typeof real.stepRollout>[1], verdict: Parameters<typeof real.stepRollout>[2], now: Date, a: Parameters<typeof real.stepRollout>[4]) => {
      const out = real.stepRollout(plan, progress, verdict, now, a);
      if (!on.has('R1') || out.action !== 'stay' || progress.state !== 'progressing' || verdict.verdict === 'pass') return out;
      const forced = real.stepRollout(plan, progress, { ...verdict, verdict: 'pass' }, now, a);
      if (forced.action !== 'advance' && forced.action !== 'complete') return out;
      return { ...forced, progress: { ...forced.progress, recent: out.progress.recent } };
    },
  };
});
vi.mock('../../src/core/policy-transitions.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/policy-transitions.js')>();
  const { plants: on } = await import('./plants.js');
  return {
    ...real,
    // R2: the abort drains the target instead of the canary's version.
    drain: (policy: Parameters<typeof real.drain>[0], service: string, version: string, now: Date, timeoutMs: number) => {
      if (!on.has('R2') || new Error().stack?.includes('dropCanary') !== true) return real.drain(policy, service, version, now, timeoutMs);
      const next = structuredClone(policy);
      for (const p of next.services[service]!.processes) if (p.version === next.services[service]!.target && p.state === 'active') p.state = 'draining';
      return next;
    },
  };
});

const RUNS = Number(process.env.SWITCHYARD_MODEL_RUNS ?? 60);
const version = fc.constantFrom(...VERSIONS);
const first: Action[] = [{ kind: 'deploy', version: '1.0.0', role: 'target' }, { kind: 'beat' }];

function heavy(routers: number): fc.Arbitrary<Action> {
  const tick = fc.record({ kind: fc.constant('rolloutTick' as const), router: fc.integer({ min: 0, max: routers - 1 }) }) as fc.Arbitrary<Action>;
  const failover = fc.record({ kind: fc.constant('failover' as const), afterMs: fc.constantFrom(0, 1, 2, 4, 8) }) as fc.Arbitrary<Action>;
  return fc.oneof(
    ...rolloutCommands(3),
    ...rolloutSteps(routers, 4),
    { weight: 10, arbitrary: fc.constant({ kind: 'beat' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deploy' as const), version, role: fc.constantFrom('target' as const, 'canary' as const) }) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('promote' as const), version }) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('rollback' as const), version }) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), version }) as fc.Arbitrary<Action> },
    { weight: 2, arbitrary: fc.constant({ kind: 'tick' as const }) },
    { weight: 1, arbitrary: failover },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('connect' as const), n: fc.integer({ min: 1, max: 5 }) }) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(2_000, 30_000) }) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('fault' as const), fault: fc.constantFrom('lose-reply' as const, 'fail-before' as const, 'pending' as const, 'read' as const, 'staleList' as const) }) as fc.Arbitrary<Action> },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('goBack' as const), n: fc.integer({ min: 1, max: 3 }) }) as fc.Arbitrary<Action> },
    // A leader change in the middle of a rollout pass; two routers' passes at once; a person steering during a pass.
    { weight: 2, arbitrary: raceOf(tick, failover) },
    { weight: 1, arbitrary: raceOf(tick, tick) },
    { weight: 1, arbitrary: raceOf(tick, fc.oneof(...rolloutCommands())) },
  );
}

async function play(runs: number, totals: ModelTotals, stopAtFirst = false): Promise<{ runs: number; steps: number; violation: string | undefined }> {
  const next = portBlocks(true);
  let played = 0;
  let steps = 0;
  let violation: string | undefined;
  const property = fc.asyncProperty(fc.array(heavy(2), { minLength: 20, maxLength: 60, size: 'large' }), async (actions) => {
    played += 1;
    steps += actions.length + first.length;
    const found = await playOnce([...first, ...actions], next(), 2, totals);
    violation ??= found[0];
    if (!stopAtFirst) expect(found).toEqual([]);
    return found.length === 0;
  });
  if (!stopAtFirst) await fc.assert(property, { numRuns: runs, endOnFailure: true });
  else await fc.assert(property, { numRuns: runs, endOnFailure: true }).catch(() => undefined);
  return { runs: played, steps, violation };
}

describe('control plane model: progressive rollouts, two routers and a lease', () => {
  const totals = modelTotals();
  const planted = modelTotals();
  const report: string[] = [];
  afterEach(() => plants.clear());
  afterAll(() => {
    console.log(`model, rollouts: ${describeTotals(totals)}\nmodel, rollouts, planted bugs: ${describeTotals(planted)}\n${report.join('\n')}`);
  });

  it('no step twice, an abort keeps the target live, no promotion without a passing verdict; and converges', async () => {
    await play(RUNS, totals);
    // The runs did exercise the plan: rollouts started, moved, and ended each way.
    expect(totals.rollouts.started).toBeGreaterThan(0);
    expect(totals.rollouts.verdicts + totals.rollouts.advanced).toBeGreaterThan(0);
  }, 600_000);

  it.each([
    ['R1', 'a step advances on a failing or inconclusive verdict'],
    ['R2', 'an abort drains the target instead of the canary'],
  ] as const)('%s is caught: %s', async (name, what) => {
    plants.add(name);
    const caught = await play(150, planted, true);
    report.push(`  ${name} (${what}): caught after ${caught.runs} runs, ${caught.steps} steps: ${caught.violation ?? 'NOT CAUGHT'}`);
    expect(caught.violation, `${name} was not caught`).toBeDefined();
  }, 600_000);
});
