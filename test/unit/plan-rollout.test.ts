import { describe, expect, it } from 'vitest';
import { planRollouts, progressingRollouts } from '../../src/core/plan-rollout.js';
import type { Policy, ProcessEntry } from '../../src/core/policy-schema.js';
import { parseInlineSteps } from '../../src/core/rollout-plan.js';
import type { Rollout } from '../../src/core/rollout-schema.js';
import type { AnalysisSettings, IntervalFigures } from '../../src/core/rollout-verdict.js';
import { T0, policyOf, proc, service } from '../helpers/policy-builder.js';

/**
 * The rollout planner, one case a line: the committed policy, the
 * figures of the intervals judged this pass, and the time in; the moves
 * out, as short lines (`<kind> <step> <canary>% expect <seq>`).
 */

const A: AnalysisSettings = { intervalMs: 10_000, failureLimit: 2, inconclusiveLimit: 3, minRequests: 50, maxErrorRate: 0.01, maxLatencyP99Ms: undefined, maxRestarts: 0 };
const PLAN = parseInlineSteps('10:2m,50:5m,100');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const rollout = (over: Partial<Rollout> = {}): Rollout => ({
  id: 'r1', version: '1.6.0', from: '1.5.0', steps: PLAN, step: 0, stepSince: T0.toISOString(), state: 'progressing', seq: 4,
  fails: 0, inconclusives: 0, recent: [], reason: null, startedAt: T0.toISOString(), by: null, ...over,
});
const TARGET = proc('lobby@1.5.0#0', 'active', 7501);
const CANARY = proc('lobby@1.6.0#0', 'active', 7502);
const lobby = (r: Partial<Rollout> = {}, extra: { canary?: { version: string; weight: number } | null; target?: string; processes?: ProcessEntry[] } = {}): Policy => {
  const ro = rollout(r);
  const weight = ro.steps[ro.step]!.canary;
  return policyOf({ lobby: service(extra.target ?? '1.5.0', extra.processes ?? [TARGET, CANARY], { canary: extra.canary === undefined ? { version: '1.6.0', weight } : extra.canary, rollout: ro }) });
};

const good: IntervalFigures = { traffic: { requests: 200, errors: 0 }, restarts: 0, checks: [] };
const bad: IntervalFigures = { traffic: { requests: 200, errors: 60 }, restarts: 0, checks: [] };
const thin: IntervalFigures = { traffic: { requests: 3, errors: 0 }, restarts: 0, checks: [] };
const dark: IntervalFigures = { traffic: { requests: 200, errors: 0 }, restarts: 0, checks: [{ query: 'q', max: 1, value: { unreachable: 'Prometheus down' } }] };
const restarting: IntervalFigures = { traffic: { requests: 2, errors: 0 }, restarts: 2, checks: [] };

const line = (m: ReturnType<typeof planRollouts>[number]) => `${m.move.kind}${m.move.kind === 'settle' ? ` ${m.move.state}` : ''} ${m.step} ${m.canary}% expect ${m.expect.seq}`;

describe('planRollouts', () => {
  it.each<[string, Policy, IntervalFigures | undefined, number, string[]]>([
    ['no figures this pass: nothing', lobby(), undefined, 30, []],
    ['a pass inside the pause is recorded', lobby(), good, 30, ['verdict 1 10% expect 4']],
    ['a pass after the pause advances', lobby(), good, 121, ['advance 2 50% expect 4']],
    ['a pass on the last step completes', lobby({ step: 2 }), good, 1, ['complete 3 100% expect 4']],
    ['a fail is recorded', lobby(), bad, 30, ['verdict 1 10% expect 4']],
    ['the second fail aborts', lobby({ fails: 1 }), bad, 30, ['abort 1 0% expect 4']],
    ['restarts fail even with too few requests', lobby({ fails: 1 }), restarting, 30, ['abort 1 0% expect 4']],
    ['too few requests: inconclusive, recorded', lobby(), thin, 200, ['verdict 1 10% expect 4']],
    ['the third inconclusive pauses, never advances', lobby({ inconclusives: 2 }), thin, 200, ['pause 1 10% expect 4']],
    ['an unreachable Prometheus is inconclusive, never a pass', lobby({ inconclusives: 2 }), dark, 200, ['pause 1 10% expect 4']],
    ['a paused rollout is not judged', lobby({ state: 'paused', reason: 'x' }), good, 900, []],
    ['an ended rollout is left alone', lobby({ state: 'aborted', reason: 'x' }, { canary: null }), good, 900, []],
    ['the version made target by hand: completed', lobby({}, { target: '1.6.0', canary: null }), good, 30, ['settle completed 1 0% expect 4']],
    ['the canary changed by hand: aborted', lobby({}, { canary: { version: '1.7.0', weight: 5 } }), good, 30, ['settle aborted 1 0% expect 4']],
    ['the canary removed by hand, even while paused: aborted', lobby({ state: 'paused', reason: 'x' }, { canary: null }), undefined, 30, ['settle aborted 1 0% expect 4']],
    ['the target rolled back by hand: aborted', lobby({}, { target: '1.4.0', processes: [proc('lobby@1.4.0#0', 'active', 7500), CANARY] }), good, 30, ['settle aborted 1 10% expect 4']],
    ['the weight changed by hand: the plan goes on', lobby({}, { canary: { version: '1.6.0', weight: 30 } }), good, 30, ['verdict 1 10% expect 4']],
    ['no active process of the version: aborted without figures', lobby({}, { processes: [TARGET, proc('lobby@1.6.0#0', 'stopping', 7502)] }), undefined, 30, ['abort 1 0% expect 4']],
  ])('%s', (_what, policy, figures, seconds, expected) => {
    const moves = planRollouts({ policy, analysis: { lobby: A }, figures: new Map(figures === undefined ? [] : [['lobby', figures]]), now: at(seconds) });
    expect(moves.map(line)).toEqual(expected);
  });

  it('judges as of the end of the interval, not when the pass ran: a step is held exactly its pause', () => {
    const plan = (judged: number, now: number) => planRollouts({ policy: lobby(), analysis: { lobby: A }, figures: new Map([['lobby', good]]), judgedAt: new Map([['lobby', at(judged)]]), now: at(now) });
    expect(plan(119.9, 121).map(line)).toEqual(['verdict 1 10% expect 4']);
    const [advance] = plan(120, 120.4);
    expect(advance!.move).toMatchObject({ kind: 'advance', progress: { step: 1, stepSince: at(120).toISOString(), recent: [{ at: at(120).toISOString() }] } });
  });

  it('a service the config does not judge is not judged', () => {
    expect(planRollouts({ policy: lobby(), analysis: {}, figures: new Map([['lobby', good]]), now: at(200) })).toEqual([]);
  });

  it('each move carries the verdict and its figures, and the progress it commits', () => {
    const [move] = planRollouts({ policy: lobby({ fails: 1 }), analysis: { lobby: A }, figures: new Map([['lobby', bad]]), now: at(30) });
    expect(move!.verdict).toMatchObject({ verdict: 'fail', errorRate: 0.3 });
    expect(move!.reason).toContain('60 of 200 requests failed (30%)');
    expect(move!.move).toMatchObject({ kind: 'abort', progress: { state: 'aborted', fails: 2, recent: [{ verdict: 'fail', requests: 200, errors: 60 }] } });
  });

  it('lists the progressing rollouts, which the loop measures', () => {
    const two = policyOf({ ...lobby().services, chat: service('2.0.0', [], { rollout: rollout({ state: 'paused', reason: 'x' }) }) });
    expect(progressingRollouts(two).map((r) => r.service)).toEqual(['lobby']);
  });
});
