import { describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../src/core/errors.js';
import { checkSteps, formatSteps, parseInlineSteps, type RolloutStep } from '../../src/core/rollout-plan.js';

const s = (canary: number, pauseMs = 0): RolloutStep => ({ canary, pauseMs });

describe('inline plans (--steps)', () => {
  it.each<[string, RolloutStep[]]>([
    ['10:2m,50:5m,100', [s(10, 120_000), s(50, 300_000), s(100)]],
    ['10:2m,50:5m', [s(10, 120_000), s(50, 300_000), s(100)]],
    ['25', [s(25), s(100)]],
    ['100', [s(100)]],
    ['100:10m', [s(100, 600_000)]],
    ['5%:30s, 20%:1m ,100%', [s(5, 30_000), s(20, 60_000), s(100)]],
    ['0.5:1h,1:90s', [s(0.5, 3_600_000), s(1, 90_000), s(100)]],
    ['10,50', [s(10), s(50), s(100)]],
    ['10:1500,100', [s(10, 1500), s(100)]],
  ])('%s', (text, steps) => {
    expect(parseInlineSteps(text)).toEqual(steps);
  });

  it.each<[string, string]>([
    ['', 'expected at least one step'],
    ['  ', 'expected at least one step'],
    ['0:1m,100', 'step 1 ("0:1m"): expected a canary weight above 0 and at most 100'],
    ['10:2m,150', 'step 2 ("150"): expected a canary weight above 0 and at most 100'],
    ['-5', 'step 1 ("-5"): expected a canary weight above 0'],
    ['ten:2m', 'step 1 ("ten:2m"): expected a canary weight'],
    ['10:2m,,100', 'step 2 (""): expected a canary weight'],
    ['50:2m,10:5m,100', `step 2 ("10:5m"): expected a canary weight above the step before's 50`],
    ['10:2m,10:5m', `step 2 ("10:5m"): expected a canary weight above the step before's 10`],
    ['10:soon,100', 'step 1 ("10:soon"): expected a pause that is a duration, like 30s, 2m or 1h'],
    ['10:,100', 'step 1 ("10:"): expected a pause that is a duration'],
    ['10:-1m', 'step 1 ("10:-1m"): expected a pause that is a duration'],
  ])('refuses %j: %s', (text, message) => {
    let error: unknown;
    try {
      parseInlineSteps(text);
    } catch (e) {
      error = e;
    }
    expect(isSwitchyardError(error)).toBe(true);
    if (!isSwitchyardError(error)) return;
    expect(error.exitCode).toBe(2);
    expect(error.code).toBe('invalid_steps');
    expect(error.message).toContain(`--steps ${JSON.stringify(text)}`);
    expect(error.message).toContain(message);
    expect(error.message).toContain('like 10:2m,50:5m,100');
  });

  it('names every bad step, not only the first', () => {
    expect(() => parseInlineSteps('0,20:x,100')).toThrow(/step 1 \("0"\).*step 2 \("20:x"\)/);
  });
});

describe('config plans (steps: [{canary, pause}])', () => {
  it.each<[string, { canary: unknown; pause?: unknown }[], RolloutStep[]]>([
    ['the design example', [{ canary: 10, pause: '2m' }, { canary: 50, pause: '5m' }, { canary: 100 }], [s(10, 120_000), s(50, 300_000), s(100)]],
    ['a plan without 100', [{ canary: 10, pause: '1m' }], [s(10, 60_000), s(100)]],
    ['percent strings', [{ canary: '10%', pause: 1000 }], [s(10, 1000), s(100)]],
  ])('%s', (_what, input, steps) => {
    expect(checkSteps(input.map((x) => ({ ...x, text: JSON.stringify(x) })))).toEqual({ ok: true, steps });
  });

  it.each<[string, { canary: unknown; pause?: unknown }[], number, string]>([
    ['a weight that is not a number', [{ canary: 'ten' }], 1, 'a canary weight above 0'],
    ['a weight over 100', [{ canary: 10 }, { canary: 101 }], 2, 'at most 100'],
    ['weights not increasing', [{ canary: 30 }, { canary: 20 }], 2, "above the step before's 30"],
    ['a pause that is not a duration', [{ canary: 10, pause: true }], 1, 'a pause that is a duration'],
    ['a missing weight', [{ canary: undefined, pause: '1m' }], 1, 'a canary weight'],
  ])('refuses %s, naming the step', (_what, input, index, expected) => {
    const checked = checkSteps(input.map((x) => ({ ...x, text: JSON.stringify(x) })));
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.problems).toEqual([expect.objectContaining({ index, expected: expect.stringContaining(expected) })]);
  });
});

describe('formatSteps', () => {
  it.each([
    ['10:2m,50:5m,100', '10:2m,50:5m,100'],
    ['10:90s,100:1h', '10:90s,100:1h'],
    ['10:1500', '10:1500ms,100'],
  ])('%s reads back as %s', (text, shown) => {
    expect(formatSteps(parseInlineSteps(text))).toBe(shown);
  });
});
