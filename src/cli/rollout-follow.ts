import type { AnalysisConfig } from '../config/schema.js';
import { formatDuration } from '../core/duration.js';
import { failedError, timeoutError } from '../core/errors.js';
import type { RolloutStep } from '../core/rollout-plan.js';
import type { Rollout } from '../core/rollout-schema.js';
import type { Store } from '../store/store.js';
import { rolloutView, type RolloutView } from './rollout-view.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * How long `deploy --steps --wait` follows a plan without --timeout: twice
 * what the plan takes when every interval passes (each step's pause and
 * one interval to judge its end), plus a minute. A plan that pauses for
 * lack of data is still waiting when this runs out: exit 3, and it goes on.
 */
export function defaultFollowMs(steps: readonly RolloutStep[], analysis: Pick<AnalysisConfig, 'intervalMs'>): number {
  return 2 * steps.reduce((sum, s) => sum + s.pauseMs + analysis.intervalMs, 0) + 60_000;
}

export interface FollowRequest {
  store: Store;
  service: string;
  /** The rollout followed (its id). */
  id: string;
  timeoutMs: number;
  /** Told every time the rollout was committed anew (a verdict, a step), and of store reads that failed. */
  onChange(view: RolloutView): void;
  onReadError?(message: string): void;
  pollMs?: number;
}

/**
 * Follows a rollout the router runs, by reading the committed policy,
 * until it ends: resolves when it completed; throws `rollout_aborted`
 * (exit 1, with the reason and the verdicts' figures) when it was aborted,
 * and `rollout_timeout` (exit 3) when the time is up: the plan goes on
 * either way, since nothing here runs it.
 */
export async function followRollout(req: FollowRequest): Promise<{ view: RolloutView; waitedMs: number }> {
  const started = Date.now();
  let seen = -1;
  let last: RolloutView | undefined;
  for (;;) {
    let rollout: Rollout | undefined;
    let generation = 0;
    try {
      const policy = await req.store.read();
      rollout = policy.services[req.service]?.rollout;
      generation = policy.generation;
    } catch (error) {
      req.onReadError?.(`the policy could not be read (${(error as Error).message}); still following`);
    }
    if (rollout !== undefined) {
      if (rollout.id !== req.id) {
        throw failedError('rollout_replaced', `The rollout followed (${req.id}) is no longer ${req.service}'s: another one (${rollout.id}, of ${rollout.version}) replaced it. See \`switchyard rollout status\`.`, { service: req.service });
      }
      last = rolloutView(req.service, rollout, generation, new Date());
      if (rollout.seq !== seen) {
        seen = rollout.seq;
        req.onChange(last);
      }
      if (rollout.state === 'completed') return { view: last, waitedMs: Date.now() - started };
      if (rollout.state === 'aborted') {
        const { version, from, step, steps, reason, verdicts } = last;
        throw failedError('rollout_aborted', `The rollout of ${req.service}@${version} was aborted at step ${step} of ${steps}: ${reason ?? 'no reason recorded'} The target stays ${from ?? 'unset'}; ${version} drains, and its terminals are told to change back at their next login.`, { service: req.service, version, from, reason, verdicts, rollout: last });
      }
    }
    if (Date.now() - started > req.timeoutMs) {
      const where = last === undefined ? 'has not been seen in the policy' : `is still ${last.state} at step ${last.step} of ${last.steps}${last.reason === null ? '' : ` (${last.reason})`}`;
      throw timeoutError('rollout_timeout', `After ${formatDuration(req.timeoutMs)} the rollout of ${req.service} ${where}: it goes on, run by the router. Follow it with \`switchyard rollout status --watch\`, steer it with \`switchyard rollout pause|resume|abort|promote\`, or wait longer with --timeout.`, { service: req.service, ...(last === undefined ? {} : { rollout: last }) });
    }
    await sleep(req.pollMs ?? 200);
  }
}
