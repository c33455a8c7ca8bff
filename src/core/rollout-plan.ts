import { parseDuration } from './duration.js';
import { usageError } from './errors.js';
import { printable } from './version.js';

/**
 * A progressive rollout's plan: canary steps, each held for a pause before
 * the next (DESIGN.md, "Progressive rollouts"). Two forms are read, the
 * inline `--steps 10:2m,50:5m,100` and the config's
 * `steps: [{canary: 10, pause: 2m}, …, {canary: 100}]`, into one shape
 * that can be stored in the policy as JSON.
 */

export interface RolloutStep {
  /** Percent of logins sent to the new version, in (0, 100]. */
  canary: number;
  /**
   * How long the step is held (and judged) before the next; 0 (no pause
   * written) moves on after the first passing interval.
   */
  pauseMs: number;
}

/** A step as written, before it is checked: `text` is how it is shown in messages. */
export interface StepInput {
  canary: unknown;
  pause?: unknown;
  text: string;
}

/** One step that is wrong: its place (1-based, as people count), how it was written, what is expected. */
export interface StepProblem {
  index: number;
  text: string;
  expected: string;
}

export type StepsCheck = { ok: true; steps: RolloutStep[] } | { ok: false; problems: StepProblem[] };

export const INLINE_EXAMPLE = '10:2m,50:5m,100';

/**
 * Checks steps in either form: each canary a percent above 0 and at most
 * 100, above the step before; each pause a duration. A plan whose last step
 * is below 100 gets `{canary: 100}` added: a rollout ends with the new
 * version taking every login, or it has not finished.
 */
export function checkSteps(input: readonly StepInput[]): StepsCheck {
  if (input.length === 0) return { ok: false, problems: [{ index: 0, text: '', expected: `at least one step, like ${INLINE_EXAMPLE}` }] };
  const problems: StepProblem[] = [];
  const steps: RolloutStep[] = [];
  let previous = 0;
  input.forEach((raw, i) => {
    const problem = (expected: string) => problems.push({ index: i + 1, text: raw.text, expected });
    const canary = typeof raw.canary === 'string' && /^\s*\d+(\.\d+)?\s*%\s*$/.test(raw.canary) ? Number.parseFloat(raw.canary) : raw.canary;
    if (typeof canary !== 'number' || !Number.isFinite(canary) || canary <= 0 || canary > 100) {
      return problem('a canary weight above 0 and at most 100 (percent of logins), like 10');
    }
    if (canary <= previous) {
      return problem(`a canary weight above the step before's ${previous}: weights increase step by step, like ${INLINE_EXAMPLE}`);
    }
    previous = canary;
    let pauseMs = 0;
    if (raw.pause !== undefined) {
      try {
        pauseMs = parseDuration(raw.pause as string | number, 'pause');
      } catch {
        return problem('a pause that is a duration, like 30s, 2m or 1h');
      }
    }
    steps.push({ canary, pauseMs });
  });
  if (problems.length > 0) return { ok: false, problems };
  if (steps[steps.length - 1]!.canary < 100) steps.push({ canary: 100, pauseMs: 0 });
  return { ok: true, steps };
}

/** One line a person can act on, naming each bad step by its place and text. */
export function describeStepProblems(what: string, problems: readonly StepProblem[]): string {
  return problems
    .map((p) => (p.index === 0 ? `${what}: expected ${p.expected}.` : `${what}: step ${p.index} (${p.text}): expected ${p.expected}.`))
    .join(' ');
}

/** The steps of the inline form, each "<weight>[%][:<pause>]", before they are checked. */
export function inlineInputs(text: string): StepInput[] {
  return text.trim() === '' ? [] : text.split(',').map(inlineStep);
}

function inlineStep(text: string): StepInput {
  const at = text.indexOf(':');
  const weight = (at === -1 ? text : text.slice(0, at)).trim();
  const pause = at === -1 ? undefined : text.slice(at + 1).trim();
  const canary = /^\d+(\.\d+)?%?$/.test(weight) ? Number.parseFloat(weight) : weight;
  return { canary, ...(pause === undefined ? {} : { pause }), text: JSON.stringify(printable(text, 40)) };
}

/**
 * Parses `--steps 10:2m,50:5m,100`. A bad plan is a usage error (exit 2)
 * naming each bad step and what is expected.
 */
export function parseInlineSteps(text: string): RolloutStep[] {
  const checked = checkSteps(inlineInputs(text));
  if (checked.ok) return checked.steps;
  const what = `--steps ${JSON.stringify(printable(text, 80))}`;
  throw usageError('invalid_steps', `${describeStepProblems(what, checked.problems)} The form is <percent>:<pause>,…, like ${INLINE_EXAMPLE}.`, { problems: checked.problems });
}

/** The plan in the inline form, for messages and `rollout status`. */
export function formatSteps(steps: readonly RolloutStep[]): string {
  return steps.map((s) => (s.pauseMs > 0 ? `${s.canary}:${formatPause(s.pauseMs)}` : String(s.canary))).join(',');
}

function formatPause(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
