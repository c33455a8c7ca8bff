import type { RolloutStep } from './rollout-plan.js';
import { isUnreachable, type AnalysisSettings, type Verdict, type VerdictKind } from './rollout-verdict.js';

/**
 * The rollout's stepper: given where a rollout stands, the newest verdict
 * and the time, what to do next. Pure, and its state is plain JSON (times
 * as ISO strings), so the policy can hold it and a new leader carries on
 * where the old one stopped.
 *
 * Fails and inconclusive intervals are counted since the last pass, not
 * strictly in a row: an inconclusive interval is no evidence of health,
 * so it does not wipe out the fails before it (nor a fail the
 * inconclusives). A pass clears both.
 */

export type RolloutState = 'progressing' | 'paused' | 'aborted' | 'completed';

/** A verdict as kept in the policy: small, with the figures a person wants to see. */
export interface VerdictRecord {
  at: string;
  verdict: VerdictKind;
  reason: string;
  requests: number | null;
  errors: number | null;
  p99Ms: number | null;
  restarts: number | null;
  /** The Prometheus checks' values (null: no value), when there are checks. */
  checks?: { query: string; max: number; value: number | null }[];
}

export interface RolloutProgress {
  /** Index into the plan's steps (0-based). */
  step: number;
  /** When this step's canary weight was set (or the rollout resumed): its pause counts from here. */
  stepSince: string;
  state: RolloutState;
  /** Fails since the last pass (or since this step began). */
  fails: number;
  /** Inconclusive intervals since the last pass (or since this step began). */
  inconclusives: number;
  /** The newest verdicts, oldest first, at most RECENT_VERDICTS. */
  recent: VerdictRecord[];
  /** Why the rollout paused, aborted or completed; null while it runs. */
  reason: string | null;
}

export type StepActionKind = 'stay' | 'advance' | 'pause' | 'abort' | 'complete';

export interface StepOutcome {
  action: StepActionKind;
  /** The canary weight the plan wants now: the new step's after an advance, 100 on complete, 0 on abort (the canary goes). */
  canary: number;
  /** One sentence for logs, webhooks and `rollout status`. */
  reason: string;
  progress: RolloutProgress;
}

export const RECENT_VERDICTS = 10;

export function startRollout(now: Date): RolloutProgress {
  return { step: 0, stepSince: now.toISOString(), state: 'progressing', fails: 0, inconclusives: 0, recent: [], reason: null };
}

/** A paused rollout runs again with fresh counts, and its step is held for its whole pause on new figures. */
export function resumeRollout(progress: RolloutProgress, now: Date): RolloutProgress {
  if (progress.state !== 'paused') return progress;
  return { ...progress, state: 'progressing', stepSince: now.toISOString(), fails: 0, inconclusives: 0, reason: null };
}

export function recordOf(verdict: Verdict, now: Date): VerdictRecord {
  const { traffic, restarts } = verdict.figures;
  const measured = !isUnreachable(traffic);
  return {
    at: now.toISOString(),
    verdict: verdict.verdict,
    reason: verdict.reason,
    requests: measured ? traffic.requests : null,
    errors: measured ? traffic.errors : null,
    p99Ms: measured && traffic.p99Ms !== undefined ? traffic.p99Ms : null,
    restarts: isUnreachable(restarts) ? null : restarts,
    ...(verdict.figures.checks.length === 0 ? {} : { checks: verdict.figures.checks.map((c) => ({ query: c.query, max: c.max, value: isUnreachable(c.value) ? null : c.value })) }),
  };
}

function showMs(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s >= 120 ? `${Math.ceil(s / 60)}m` : `${s}s`;
}

/** What to do after `verdict`, the newest interval's, at `now`. */
export function stepRollout(plan: readonly RolloutStep[], progress: RolloutProgress, verdict: Verdict, now: Date, a: AnalysisSettings): StepOutcome {
  const current = plan[progress.step];
  if (current === undefined) throw new Error(`rollout progress names step ${progress.step + 1} of a plan of ${plan.length}`);
  if (progress.state !== 'progressing') {
    return { action: 'stay', canary: current.canary, reason: `the rollout is ${progress.state}, so verdicts do not move it.`, progress };
  }
  const recent = [...progress.recent, recordOf(verdict, now)].slice(-RECENT_VERDICTS);
  const passed = verdict.verdict === 'pass';
  const fails = passed ? 0 : progress.fails + (verdict.verdict === 'fail' ? 1 : 0);
  const inconclusives = passed ? 0 : progress.inconclusives + (verdict.verdict === 'inconclusive' ? 1 : 0);
  const next: RolloutProgress = { ...progress, recent, fails, inconclusives };
  const at = `step ${progress.step + 1} of ${plan.length} (canary ${current.canary}%)`;

  if (fails >= a.failureLimit) {
    const reason = `${fails} failed intervals at ${at} reached failureLimit (${a.failureLimit}); the last: ${verdict.reason}`;
    return { action: 'abort', canary: 0, reason, progress: { ...next, state: 'aborted', reason } };
  }
  if (inconclusives >= a.inconclusiveLimit) {
    const reason = `${inconclusives} inconclusive intervals at ${at} reached inconclusiveLimit (${a.inconclusiveLimit}); the last: ${verdict.reason}`;
    return { action: 'pause', canary: current.canary, reason, progress: { ...next, state: 'paused', reason } };
  }
  if (!passed) {
    return { action: 'stay', canary: current.canary, reason: `${at} stays: the interval was ${verdict.verdict === 'fail' ? 'a fail' : 'inconclusive'}: ${verdict.reason}`, progress: next };
  }
  const left = current.pauseMs - (now.getTime() - Date.parse(progress.stepSince));
  if (left > 0) {
    return { action: 'stay', canary: current.canary, reason: `${at} passed; it is held ${showMs(left)} more.`, progress: next };
  }
  if (progress.step === plan.length - 1) {
    const reason = `${at} passed its pause: the rollout is complete.`;
    return { action: 'complete', canary: 100, reason, progress: { ...next, state: 'completed', reason } };
  }
  const to = plan[progress.step + 1]!;
  return {
    action: 'advance',
    canary: to.canary,
    reason: `${at} passed its pause: on to step ${progress.step + 2} (canary ${to.canary}%).`,
    progress: { ...next, step: progress.step + 1, stepSince: now.toISOString(), fails: 0, inconclusives: 0 },
  };
}
