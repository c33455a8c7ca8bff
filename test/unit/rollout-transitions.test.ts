import { describe, expect, it } from 'vitest';
import { checkPolicy, type Policy } from '../../src/core/policy-schema.js';
import { parseInlineSteps } from '../../src/core/rollout-plan.js';
import type { Rollout } from '../../src/core/rollout-schema.js';
import { beginRollout, moveRollout, steerRollout, type RolloutMove } from '../../src/core/rollout-transitions.js';
import { T0, T1, policyOf, proc, service, states } from '../helpers/policy-builder.js';

/**
 * The rollout's transitions on the policy, a case a line: begin (the
 * canary at the first step's weight, the plan recorded), the plan's moves
 * (each only on the head it was planned from), and a person's steering.
 */

const PLAN = parseInlineSteps('10:2m,50:5m,100');
const BY = { kind: 'user' as const, user: 'ann', host: 'ci-1' };
const DRAIN_MS = 30 * 60_000;

/** lobby: target 1.5.0, 1.6.0 active and not promoted. */
const base = (): Policy => policyOf({ lobby: service('1.5.0', [proc('lobby@1.5.0#0', 'active', 7501), proc('lobby@1.6.0#0', 'active', 7502)]) });
const begun = (): Policy => beginRollout(base(), 'lobby', { id: 'r1', version: '1.6.0', steps: PLAN, by: BY, now: T0 });
const rolloutOf = (p: Policy): Rollout => p.services.lobby!.rollout!;
const progress = (p: Policy, over: Partial<Rollout>) => ({ ...rolloutOf(p), ...over });

describe('beginRollout', () => {
  it('makes the version the canary at the first weight and records the plan, in one change that validates', () => {
    const after = begun();
    expect(after.services.lobby!.canary).toEqual({ version: '1.6.0', weight: 10 });
    expect(rolloutOf(after)).toEqual({
      id: 'r1', version: '1.6.0', from: '1.5.0', steps: PLAN, step: 0, stepSince: T0.toISOString(), state: 'progressing', seq: 0,
      fails: 0, inconclusives: 0, recent: [], reason: null, startedAt: T0.toISOString(), by: BY,
    });
    expect(checkPolicy(after).ok).toBe(true);
  });

  it.each<[string, () => Policy, string, string | null]>([
    ['the same version again is unchanged (a rerun in CI)', begun, '1.6.0', null],
    ['another version while one is live is refused', begun, '1.7.0', 'rollout_in_progress'],
    ['the target is refused', base, '1.5.0', 'already_target'],
    ['no target yet is refused', () => policyOf({ lobby: service(null, [proc('lobby@1.6.0#0', 'active', 7502)]) }), '1.6.0', 'no_target'],
  ])('%s', (_what, start, version, code) => {
    const before = start();
    const run = () => beginRollout(before, 'lobby', { id: 'r2', version, steps: PLAN, by: null, now: T1 });
    if (code === null) expect(run()).toBe(before);
    else expect(run).toThrow(expect.objectContaining({ code }));
  });

  it('starts again after an ended rollout', () => {
    const ended = structuredClone(steerRollout(begun(), 'lobby', 'abort', T1, DRAIN_MS, 'stop'));
    ended.services.lobby!.processes.push(proc('lobby@1.7.0#0', 'active', 7503));
    const again = beginRollout(ended, 'lobby', { id: 'r2', version: '1.7.0', steps: PLAN, by: null, now: T1 });
    expect(rolloutOf(again)).toMatchObject({ id: 'r2', version: '1.7.0', state: 'progressing', seq: 0 });
  });
});

describe('moveRollout', () => {
  const expect0 = { id: 'r1', seq: 0 };
  it.each<[string, (p: Policy) => RolloutMove, Partial<Rollout>, { target: string; canary: unknown; states?: Record<string, string> }]>([
    ['a verdict records the counts', (p) => ({ kind: 'verdict', progress: progress(p, { fails: 1 }) }), { fails: 1, seq: 1, step: 0 }, { target: '1.5.0', canary: { version: '1.6.0', weight: 10 } }],
    ['advance sets the next weight', (p) => ({ kind: 'advance', progress: progress(p, { step: 1, stepSince: T1.toISOString() }) }), { step: 1, seq: 1 }, { target: '1.5.0', canary: { version: '1.6.0', weight: 50 } }],
    ['pause holds the weight', (p) => ({ kind: 'pause', progress: progress(p, { state: 'paused', reason: 'no data' }) }), { state: 'paused', reason: 'no data' }, { target: '1.5.0', canary: { version: '1.6.0', weight: 10 } }],
    ['abort removes the canary and drains the version; the target stays', (p) => ({ kind: 'abort', progress: progress(p, { state: 'aborted', reason: 'errors' }) }), { state: 'aborted' }, { target: '1.5.0', canary: null, states: { 'lobby@1.5.0#0': 'active', 'lobby@1.6.0#0': 'draining' } }],
    ['complete promotes; the old target drains', (p) => ({ kind: 'complete', progress: progress(p, { state: 'completed', reason: 'done' }) }), { state: 'completed' }, { target: '1.6.0', canary: null, states: { 'lobby@1.5.0#0': 'draining', 'lobby@1.6.0#0': 'active' } }],
    ['settle records how it ended', () => ({ kind: 'settle', state: 'aborted', reason: 'changed by hand' }), { state: 'aborted', reason: 'changed by hand', seq: 1 }, { target: '1.5.0', canary: { version: '1.6.0', weight: 10 } }],
  ])('%s', (_what, move, rollout, svc) => {
    const before = begun();
    const after = moveRollout(before, 'lobby', expect0, move(before), T1, DRAIN_MS);
    expect(rolloutOf(after)).toMatchObject({ ...rollout, seq: 1 });
    expect(after.services.lobby!.target).toBe(svc.target);
    expect(after.services.lobby!.canary).toEqual(svc.canary);
    if (svc.states !== undefined) expect(states(after)).toEqual(svc.states);
    expect(checkPolicy(after).ok).toBe(true);
  });

  it.each<[string, { id: string; seq: number }]>([
    ['a move planned from an older seq is dropped (the step was committed already)', { id: 'r1', seq: 0 }],
    ['a move of another rollout is dropped', { id: 'r0', seq: 1 }],
  ])('%s', (_what, planned) => {
    const once = moveRollout(begun(), 'lobby', { id: 'r1', seq: 0 }, { kind: 'advance', progress: progress(begun(), { step: 1 }) }, T1, DRAIN_MS);
    const twice = moveRollout(once, 'lobby', planned, { kind: 'advance', progress: progress(once, { step: 2 }) }, T1, DRAIN_MS);
    expect(twice).toBe(once);
  });

  it('an advance that skips a step is dropped', () => {
    const before = begun();
    expect(moveRollout(before, 'lobby', { id: 'r1', seq: 0 }, { kind: 'advance', progress: progress(before, { step: 2 }) }, T1, DRAIN_MS)).toBe(before);
  });

  it('an ended rollout is not moved', () => {
    const ended = steerRollout(begun(), 'lobby', 'abort', T1, DRAIN_MS, 'stop');
    expect(moveRollout(ended, 'lobby', { id: 'r1', seq: 1 }, { kind: 'verdict', progress: rolloutOf(ended) }, T1, DRAIN_MS)).toBe(ended);
  });
});

describe('steerRollout', () => {
  it.each<[string, (p: Policy) => Policy, string, Partial<Rollout>, string, unknown]>([
    ['pause holds the weight', (p) => p, 'pause', { state: 'paused', reason: 'why' }, '1.5.0', { version: '1.6.0', weight: 10 }],
    ['resume restarts the step on fresh counts', (p) => steerRollout(p, 'lobby', 'pause', T0, DRAIN_MS, 'x'), 'resume', { state: 'progressing', reason: null, stepSince: T1.toISOString(), fails: 0 }, '1.5.0', { version: '1.6.0', weight: 10 }],
    ['abort removes the canary', (p) => p, 'abort', { state: 'aborted', reason: 'why' }, '1.5.0', null],
    ['promote skips the remaining steps', (p) => p, 'promote', { state: 'completed', reason: 'why' }, '1.6.0', null],
    ['a paused rollout may be promoted', (p) => steerRollout(p, 'lobby', 'pause', T0, DRAIN_MS, 'x'), 'promote', { state: 'completed' }, '1.6.0', null],
  ])('%s', (_what, prepare, verb, rollout, target, canary) => {
    const after = steerRollout(prepare(begun()), 'lobby', verb as 'pause', T1, DRAIN_MS, 'why');
    expect(rolloutOf(after)).toMatchObject(rollout);
    expect(after.services.lobby!.target).toBe(target);
    expect(after.services.lobby!.canary).toEqual(canary);
  });

  it.each<[string, () => Policy, string, string | null]>([
    ['pausing a paused rollout is unchanged', () => steerRollout(begun(), 'lobby', 'pause', T0, DRAIN_MS, 'x'), 'pause', null],
    ['resuming a progressing rollout is unchanged', begun, 'resume', null],
    ['no rollout is refused', base, 'pause', 'no_rollout'],
    ['an ended rollout is refused', () => steerRollout(begun(), 'lobby', 'abort', T0, DRAIN_MS, 'x'), 'promote', 'rollout_ended'],
  ])('%s', (_what, start, verb, code) => {
    const before = start();
    const run = () => steerRollout(before, 'lobby', verb as 'pause', T1, DRAIN_MS, 'why');
    if (code === null) expect(run()).toBe(before);
    else expect(run).toThrow(expect.objectContaining({ code }));
  });
});
