import { formatDuration } from '../core/duration.js';
import { formatSteps } from '../core/rollout-plan.js';
import { pauseLeftMs, type ChangedBy, type Rollout, type RolloutVerdictRecord } from '../core/rollout-schema.js';

/**
 * A rollout as `rollout status` and `deploy --steps --wait` show it: the
 * plan, the step, the time left in its pause, the recent verdicts with
 * their figures, the state and why. Pure: the time comes in.
 */

export interface RolloutView {
  service: string;
  version: string;
  from: string | null;
  state: Rollout['state'];
  reason: string | null;
  plan: string;
  /** 1-based, of `steps`. */
  step: number;
  steps: number;
  canary: number;
  stepSince: string;
  /** What is left of the step's pause; null when it is not progressing. */
  pauseLeftMs: number | null;
  startedAt: string;
  by: ChangedBy | null;
  verdicts: RolloutVerdictRecord[];
  /** The policy generation it was read from. */
  generation: number;
}

export function rolloutView(service: string, r: Rollout, generation: number, now: Date): RolloutView {
  const step = r.steps[r.step]!;
  return {
    service, version: r.version, from: r.from, state: r.state, reason: r.reason, plan: formatSteps(r.steps),
    step: r.step + 1, steps: r.steps.length, canary: step.canary, stepSince: r.stepSince,
    pauseLeftMs: pauseLeftMs(r, now.getTime()),
    startedAt: r.startedAt, by: r.by, verdicts: r.recent, generation,
  };
}

export function byText(by: ChangedBy | null): string {
  if (by === null) return 'unknown';
  if (by.kind === 'user') return [by.user, by.host].filter((v) => v !== null).join('@') || 'unknown';
  return `${by.actor ?? 'someone'} in ${by.system}${by.repository === null ? '' : ` ${by.repository}`}${by.run === null ? '' : ` run ${by.run}`}`;
}

const num = (v: number | null, unit = '') => (v === null ? '–' : `${Math.round(v * 10) / 10}${unit}`);

/** One verdict in a line: time, kind, figures, why. */
export function verdictLine(v: RolloutVerdictRecord): string {
  const rate = v.requests !== null && v.errors !== null && v.requests > 0 ? ` (${num((v.errors / v.requests) * 100, '%')})` : '';
  const checks = (v.checks ?? []).map((c) => `, ${c.query.length > 30 ? `${c.query.slice(0, 29)}…` : c.query} = ${num(c.value)}`).join('');
  return `${v.at.slice(11, 19)}  ${v.verdict.padEnd(12)} ${num(v.requests)} requests, ${num(v.errors)} errors${rate}, p99 ${num(v.p99Ms, ' ms')}, ${num(v.restarts)} restarts${checks}`;
}

/** The view as lines for people (stdout of `rollout status`). */
export function rolloutLines(view: RolloutView): string[] {
  const held = view.pauseLeftMs === null ? '' : view.pauseLeftMs > 0 ? `, held ${formatDuration(view.pauseLeftMs)} more` : ', its pause is over: on to the next step at the next passing interval';
  const lines = [
    `${view.service}: rollout of ${view.version}${view.from === null ? '' : ` (from ${view.from})`}: ${view.state.toUpperCase()}`,
    `  plan      ${view.plan}`,
    `  step      ${view.step} of ${view.steps}, canary ${view.canary}%${held}`,
    `  started   ${view.startedAt} by ${byText(view.by)}`,
  ];
  if (view.reason !== null) lines.push(`  why       ${view.reason}`);
  if (view.verdicts.length === 0) lines.push('  verdicts  none yet (the first interval is measured as a baseline)');
  else lines.push('  verdicts', ...view.verdicts.map((v) => `    ${verdictLine(v)}`));
  return lines;
}
