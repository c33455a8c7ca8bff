import type { Policy, ServicePolicy } from './policy-schema.js';
import { isLive, type Rollout } from './rollout-schema.js';
import { stepRollout } from './rollout-step.js';
import type { RolloutExpect, RolloutMove } from './rollout-transitions.js';
import { judgeInterval, type AnalysisSettings, type IntervalFigures, type Verdict } from './rollout-verdict.js';

/**
 * The rollout controller's planner (DESIGN.md, "Progressive rollouts"): a
 * pure function of the committed policy, the figures of the intervals
 * judged this pass, and the time. It returns every move to commit, each
 * naming the head it was planned from; the loop (control/rollout-loop.ts)
 * runs exactly these, through the ops executor.
 *
 * - A live rollout whose canary or target was changed outside the plan
 *   (promote, rollback, drain, `deploy --canary`, `policy apply`) ends:
 *   completed when its version became the target, aborted otherwise.
 * - A progressing rollout whose version has no active process left aborts:
 *   nothing can be judged, and logins must not wait on it.
 * - A progressing rollout with an interval's figures is judged
 *   (judgeInterval) and stepped (stepRollout): the verdict is recorded,
 *   and the step advances, pauses, aborts or completes as it says.
 */

export interface RolloutPlanInput {
  policy: Policy;
  /** Each configured service's analysis settings (a service missing here is not judged). */
  analysis: Readonly<Record<string, AnalysisSettings>>;
  /** One interval's figures per service judged in this pass, and the time its interval ended (default `now`). */
  figures: ReadonlyMap<string, IntervalFigures>;
  judgedAt?: ReadonlyMap<string, Date>;
  now: Date;
}

export interface PlannedMove {
  service: string;
  version: string;
  from: string | null;
  expect: RolloutExpect;
  move: RolloutMove;
  /** The step the move lands on (1-based) and its canary weight (0: the canary is gone). */
  step: number;
  canary: number;
  reason: string;
  /** The verdict it was judged on, when it was judged. */
  verdict?: Verdict;
}

/** Services whose rollout progresses, whose intervals the loop measures. */
export function progressingRollouts(policy: Policy): Array<{ service: string; rollout: Rollout }> {
  return Object.entries(policy.services).flatMap(([service, s]) => (s.rollout?.state === 'progressing' ? [{ service, rollout: s.rollout }] : []));
}

/** Why a live rollout no longer matches the policy, and how it ends; undefined while it does. */
function outOfStep(svc: ServicePolicy, r: Rollout): { state: 'aborted' | 'completed'; reason: string } | undefined {
  if (svc.target === r.version) return { state: 'completed', reason: `${r.version} was made the target outside the plan, at step ${r.step + 1} of ${r.steps.length}.` };
  if (svc.canary?.version !== r.version) {
    return { state: 'aborted', reason: `the canary is no longer ${r.version} (it is ${svc.canary === null ? 'none' : `${svc.canary.version} at ${svc.canary.weight}%`}): it was changed outside the plan.` };
  }
  if (svc.target !== r.from) return { state: 'aborted', reason: `the target changed from ${r.from ?? 'none'} to ${svc.target ?? 'none'} outside the plan.` };
  return undefined;
}

export function planRollouts(input: RolloutPlanInput): PlannedMove[] {
  const moves: PlannedMove[] = [];
  for (const [service, svc] of Object.entries(input.policy.services)) {
    const r = svc.rollout;
    if (!isLive(r)) continue;
    const base = { service, version: r.version, from: r.from, expect: { id: r.id, seq: r.seq } };
    const off = outOfStep(svc, r);
    if (off !== undefined) {
      moves.push({ ...base, move: { kind: 'settle', ...off }, step: r.step + 1, canary: svc.canary?.version === r.version ? svc.canary.weight : 0, reason: off.reason });
      continue;
    }
    if (r.state !== 'progressing') continue;
    if (!svc.processes.some((p) => p.version === r.version && p.state === 'active')) {
      const reason = `no process of ${r.version} is active any more, so it cannot be judged: the canary is removed.`;
      moves.push({ ...base, move: { kind: 'abort', progress: { ...r, state: 'aborted', reason } }, step: r.step + 1, canary: 0, reason });
      continue;
    }
    const figures = input.figures.get(service);
    const analysis = Object.hasOwn(input.analysis, service) ? input.analysis[service] : undefined;
    if (figures === undefined || analysis === undefined) continue;
    const verdict = judgeInterval(figures, analysis);
    // Judged as of the end of its interval: a step begun then is held exactly its pause, whenever the pass ran.
    const out = stepRollout(r.steps, r, verdict, input.judgedAt?.get(service) ?? input.now, analysis);
    const kind = out.action === 'stay' ? 'verdict' : out.action;
    moves.push({ ...base, move: { kind, progress: out.progress }, step: out.progress.step + 1, canary: out.canary, reason: out.reason, verdict });
  }
  return moves;
}
