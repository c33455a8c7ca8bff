import type { ServiceConfig } from '../config/schema.js';
import type { Policy } from '../core/policy-schema.js';
import type { Rollout } from '../core/rollout-schema.js';
import { steerRollout as steer, type SteerVerb } from '../core/rollout-transitions.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';
import { requireRunning } from './promote.js';

export type { SteerVerb } from '../core/rollout-transitions.js';

export interface SteerRequest {
  service: ServiceConfig;
  verb: SteerVerb;
  /** Why, kept as the rollout's reason (default: who did it). */
  reason?: string;
  dryRun?: boolean;
}

export interface SteerResult {
  service: string;
  verb: SteerVerb;
  version: string;
  generation: number;
  /** It already was so (paused, progressing): nothing written. */
  unchanged: boolean;
  rollout: Rollout;
  before: Policy;
  after: Policy;
}

const EVENTS: Record<SteerVerb, string[]> = {
  pause: ['rollout.paused'],
  resume: ['rollout.resumed'],
  abort: ['rollout.aborted'],
  promote: ['rollout.completed', 'promote'],
};

const PAST: Record<SteerVerb, string> = { pause: 'paused', resume: 'resumed', abort: 'aborted', promote: 'promoted, skipping the remaining steps,' };

/**
 * `rollout pause|resume|abort|promote`: a person steering the plan the
 * router runs. One compare-and-set commit (retried on a conflict with the
 * plan's own commits, the steering re-applied to the head it lands on);
 * a dry run computes the change and writes nothing. Promote is refused
 * when PM2 no longer runs the new version's processes.
 */
export async function steerRollout(deps: OpsDeps, req: SteerRequest): Promise<SteerResult> {
  const { service, verb } = req;
  const before = await deps.store.read();
  const who = [deps.by?.user, deps.by?.host].filter(Boolean).join('@') || 'a person';
  const apply = (head: Policy) => {
    const version = head.services[service.name]?.rollout?.version ?? '?';
    return steer(head, service.name, verb, deps.clock.now(), service.drain.timeoutMs, req.reason ?? `${service.name}@${version} ${PAST[verb]} by hand (${who}).`);
  };
  const planned = apply(before);
  const version = planned.services[service.name]!.rollout!.version;
  if (verb === 'promote') await requireRunning(deps, before, service.name, version);
  const result = (after: Policy, generation: number, unchanged: boolean): SteerResult => ({ service: service.name, verb, version, generation, unchanged, rollout: after.services[service.name]!.rollout!, before, after });
  if (req.dryRun === true) return result(planned, before.generation, planned === before);
  const { policy, wrote } = await commitChange(deps, `${verb} rollout`, apply);
  const rollout = policy.services[service.name]!.rollout!;
  if (wrote) {
    for (const type of EVENTS[verb]) {
      deps.notify?.({ type, service: service.name, version, from: rollout.from, generation: policy.generation, step: rollout.step + 1, canary: verb === 'promote' ? 100 : verb === 'abort' ? 0 : rollout.steps[rollout.step]!.canary, reason: rollout.reason ?? `${verb} by hand` });
    }
  }
  return result(policy, policy.generation, !wrote);
}
