import { describe, expect, it } from 'vitest';
import { parseInlineSteps } from '../../src/core/rollout-plan.js';
import { RECENT_VERDICTS, resumeRollout, startRollout, stepRollout, type RolloutProgress, type StepActionKind } from '../../src/core/rollout-step.js';
import type { AnalysisSettings, Verdict, VerdictKind } from '../../src/core/rollout-verdict.js';

const A: AnalysisSettings = { intervalMs: 10_000, failureLimit: 2, inconclusiveLimit: 3, minRequests: 50, maxErrorRate: 0.01, maxLatencyP99Ms: undefined, maxRestarts: 0 };
const PLAN = parseInlineSteps('10:2m,50:5m,100');
const T0 = new Date('2026-11-25T10:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const verdict = (kind: VerdictKind): Verdict => ({ verdict: kind, reason: `it was ${kind}.`, figures: { traffic: { requests: 100, errors: kind === 'fail' ? 50 : 0 }, restarts: 0, checks: [] }, errorRate: 0 });
const progress = (over: Partial<RolloutProgress> = {}): RolloutProgress => ({ ...startRollout(T0), ...over });

describe('stepRollout', () => {
  it.each<[string, RolloutProgress, VerdictKind, number, StepActionKind, number, Partial<RolloutProgress>]>([
    ['a pass inside the pause stays', progress(), 'pass', 60, 'stay', 10, { step: 0, fails: 0 }],
    ['a pass once the pause is over advances', progress(), 'pass', 120, 'advance', 50, { step: 1, stepSince: at(120).toISOString(), fails: 0, inconclusives: 0 }],
    ['a fail after the pause does not advance', progress(), 'fail', 300, 'stay', 10, { step: 0, fails: 1 }],
    ['an inconclusive after the pause does not advance', progress(), 'inconclusive', 300, 'stay', 10, { inconclusives: 1 }],
    ['the second fail aborts (failureLimit 2)', progress({ fails: 1 }), 'fail', 30, 'abort', 0, { state: 'aborted', fails: 2 }],
    ['fails count since the last pass, across inconclusives', progress({ fails: 1, inconclusives: 1 }), 'fail', 30, 'abort', 0, { state: 'aborted' }],
    ['the third inconclusive pauses (inconclusiveLimit 3)', progress({ inconclusives: 2 }), 'inconclusive', 30, 'pause', 10, { state: 'paused', inconclusives: 3 }],
    ['a pass clears both counts', progress({ fails: 1, inconclusives: 2 }), 'pass', 30, 'stay', 10, { fails: 0, inconclusives: 0 }],
    ['the last step passing its pause completes', progress({ step: 2 }), 'pass', 1, 'complete', 100, { state: 'completed' }],
    ['a middle step advances to the last', progress({ step: 1 }), 'pass', 300, 'advance', 100, { step: 2 }],
    ['a paused rollout is not moved by a pass', progress({ state: 'paused', reason: 'no data' }), 'pass', 900, 'stay', 10, { state: 'paused', recent: [] }],
    ['an aborted rollout is not moved', progress({ state: 'aborted', reason: 'x' }), 'pass', 900, 'stay', 10, { state: 'aborted' }],
  ])('%s', (_what, before, kind, seconds, action, canary, after) => {
    const out = stepRollout(PLAN, before, verdict(kind), at(seconds), A);
    expect(out.action).toBe(action);
    expect(out.canary).toBe(canary);
    expect(out.progress).toMatchObject(after);
    expect(out.reason).toMatch(/\S/);
  });

  it('an abort and a pause say why, with the last verdict', () => {
    const aborted = stepRollout(PLAN, progress({ fails: 1 }), verdict('fail'), at(30), A);
    expect(aborted.reason).toBe('2 failed intervals at step 1 of 3 (canary 10%) reached failureLimit (2); the last: it was fail.');
    expect(aborted.progress.reason).toBe(aborted.reason);
    const paused = stepRollout(PLAN, progress({ inconclusives: 2 }), verdict('inconclusive'), at(30), A);
    expect(paused.reason).toContain('reached inconclusiveLimit (3)');
  });

  it('says how long a passing step is still held', () => {
    expect(stepRollout(PLAN, progress(), verdict('pass'), at(60), A).reason).toBe('step 1 of 3 (canary 10%) passed; it is held 60s more.');
  });

  it('keeps the newest verdicts with their figures, bounded', () => {
    let p = progress();
    for (let i = 0; i < RECENT_VERDICTS + 3; i += 1) p = stepRollout(PLAN, p, verdict('pass'), at(i), A).progress;
    expect(p.recent).toHaveLength(RECENT_VERDICTS);
    expect(p.recent.at(-1)).toEqual({ at: at(RECENT_VERDICTS + 2).toISOString(), verdict: 'pass', reason: 'it was pass.', requests: 100, errors: 0, p99Ms: null, restarts: 0 });
  });

  it('state survives a JSON round trip (the policy stores it)', () => {
    const out = stepRollout(PLAN, progress(), verdict('pass'), at(120), A);
    const stored = JSON.parse(JSON.stringify(out.progress)) as RolloutProgress;
    expect(stepRollout(PLAN, stored, verdict('pass'), at(420), A).action).toBe('advance');
    expect(stepRollout(PLAN, stored, verdict('pass'), at(419), A).action).toBe('stay');
  });

  it('a whole rollout: passes through every step to complete', () => {
    let p = startRollout(T0);
    const actions: string[] = [];
    for (let t = 10; t <= 600; t += 10) {
      const out = stepRollout(PLAN, p, verdict('pass'), at(t), A);
      if (out.action !== 'stay') actions.push(`${t}:${out.action}:${out.canary}`);
      p = out.progress;
    }
    expect(actions).toEqual(['120:advance:50', '420:advance:100', '430:complete:100']);
  });

  it('resume runs a paused rollout again, with fresh counts and the step held anew', () => {
    const paused = progress({ state: 'paused', inconclusives: 3, reason: 'no data' });
    const resumed = resumeRollout(paused, at(600));
    expect(resumed).toMatchObject({ state: 'progressing', inconclusives: 0, fails: 0, reason: null, stepSince: at(600).toISOString() });
    expect(stepRollout(PLAN, resumed, verdict('pass'), at(610), A).action).toBe('stay');
    expect(resumeRollout(progress({ state: 'aborted' }), at(600)).state).toBe('aborted');
  });

  it('refuses progress that names a step the plan lacks', () => {
    expect(() => stepRollout(PLAN, progress({ step: 3 }), verdict('pass'), at(1), A)).toThrow(/step 4 of a plan of 3/);
  });
});
