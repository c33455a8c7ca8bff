import type { PlannedMove } from '../core/plan-rollout.js';
import type { Policy } from '../core/policy-schema.js';
import { moveRollout } from '../core/rollout-transitions.js';
import { isUnreachable, type Verdict } from '../core/rollout-verdict.js';
import { commitChange } from './commit.js';
import type { OpsDeps, OpsEvent } from './deps.js';

export type RolloutMoveDeps = Pick<OpsDeps, 'store' | 'lease' | 'by' | 'clock' | 'notify'>;

export interface RolloutMoveResult {
  /** False: the head no longer held the rollout as planned (another leader, a person), and the move was dropped. */
  wrote: boolean;
  policy: Policy;
}

/** The events a move tells, by its kind (a recorded verdict that moved nothing tells nothing). */
const EVENTS: Record<string, string[]> = {
  advance: ['rollout.step'],
  pause: ['rollout.paused'],
  abort: ['rollout.aborted'],
  complete: ['rollout.completed', 'promote'],
};

/** A verdict's figures as events and logs carry them. */
export function verdictFigures(v: Verdict): Record<string, unknown> {
  const { traffic, restarts, checks } = v.figures;
  return {
    verdict: v.verdict,
    requests: isUnreachable(traffic) ? null : traffic.requests,
    errors: isUnreachable(traffic) ? null : traffic.errors,
    errorRate: v.errorRate ?? null,
    p99Ms: isUnreachable(traffic) ? null : (traffic.p99Ms ?? null),
    restarts: isUnreachable(restarts) ? null : restarts,
    ...(checks.length === 0 ? {} : { checks: checks.map((c) => ({ query: c.query, max: c.max, value: isUnreachable(c.value) ? null : c.value })) }),
  };
}

/**
 * One move of a rollout's plan (what the rollout loop runs per judged
 * interval): one compare-and-set commit, fenced under the leader's lease,
 * applied only on a head that still holds the rollout at the seq it was
 * planned from. Retried on a conflict with any other change; dropped when
 * the rollout itself moved meanwhile, so no step is committed twice.
 */
export async function commitRolloutMove(deps: RolloutMoveDeps, planned: PlannedMove, drainTimeoutMs: number): Promise<RolloutMoveResult> {
  // A settled rollout was ended by someone else's change (a promote tells its own event): only the rollout's end is told.
  const types = planned.move.kind === 'settle' ? [planned.move.state === 'completed' ? 'rollout.completed' : 'rollout.aborted'] : (EVENTS[planned.move.kind] ?? []);
  const op = planned.move.kind === 'settle' ? 'rollout settle' : `rollout ${planned.move.kind}`;
  const { policy, wrote } = await commitChange(deps, op, (head) => moveRollout(head, planned.service, planned.expect, planned.move, deps.clock.now(), drainTimeoutMs));
  if (!wrote) return { wrote, policy };
  const by = policy.services[planned.service]?.rollout?.by ?? null;
  for (const type of types) {
    const event: OpsEvent = {
      type, service: planned.service, version: planned.version, from: planned.from, generation: policy.generation,
      step: planned.step, canary: planned.canary, reason: planned.reason, by,
      ...(planned.verdict === undefined ? {} : { metrics: verdictFigures(planned.verdict) }),
    };
    deps.notify?.(event);
  }
  return { wrote, policy };
}
