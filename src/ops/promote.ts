import type { ServiceConfig } from '../config/schema.js';
import { usageError } from '../core/errors.js';
import type { Policy } from '../core/policy-schema.js';
import { promote as promoteVersion } from '../core/policy-transitions.js';
import { liveInFleet } from '../fleet/alive.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';

export interface PromoteRequest {
  service: ServiceConfig;
  version: string;
  /** Compute the change without writing it. */
  dryRun?: boolean;
}

export interface PromoteResult {
  service: string;
  target: string;
  previousTarget: string | null;
  generation: number;
  unchanged: boolean;
  draining: string[];
  drainDeadline: string | null;
  before: Policy;
  after: Policy;
}

/**
 * Refuses to make a version take every login when PM2 no longer runs any of
 * its active processes: logins must never go to a process that died before
 * the reconcile loop noticed.
 */
export async function requireRunning(deps: Pick<OpsDeps, 'fleets'>, policy: Policy, service: string, version: string): Promise<void> {
  const active = (policy.services[service]?.processes ?? []).filter((p) => p.version === version && p.state === 'active');
  if (active.length === 0) return;
  const { live, dead } = await liveInFleet(deps.fleets, active);
  if (live.length === 0) {
    throw usageError('version_down', `Cannot promote ${service}@${version}: PM2 no longer runs its processes (${dead.map((p) => p.id).join(', ')}); run \`switchyard deploy ${version}\` to start new ones.`, { service, version, ids: dead.map((p) => p.id) });
  }
}

/**
 * `promote <version>`: makes an active version the target; the previous
 * target drains. One compare-and-set and no retry: a concurrent change
 * makes this a conflict (exit 4, run it again), never a lost update. A
 * version whose processes PM2 no longer runs is refused: logins must never
 * go to a process that died before the reconcile loop noticed.
 */
export async function promote(deps: OpsDeps, req: PromoteRequest): Promise<PromoteResult> {
  const { service, version } = req;
  const before = await deps.store.read();
  const svc = before.services[service.name];
  const previous = svc?.target ?? null;
  if (previous !== version) await requireRunning(deps, before, service.name, version);
  const apply = (p: Policy) => promoteVersion(p, service.name, version, deps.clock.now(), service.drain.timeoutMs);
  const described = (after: Policy, generation: number, unchanged: boolean): PromoteResult => {
    const draining = after.services[service.name]!.processes.filter((p) => p.version === previous && p.state === 'draining');
    return { service: service.name, target: version, previousTarget: unchanged ? version : previous, generation, unchanged, draining: draining.map((p) => p.id), drainDeadline: draining[0]?.drainDeadline ?? null, before, after };
  };
  if (req.dryRun === true) {
    const after = apply(before);
    return described(after, before.generation, after === before);
  }
  const { policy, wrote } = await commitChange(deps, 'promote', apply, { retries: 0 });
  if (wrote) deps.notify?.({ type: 'promote', service: service.name, version, from: previous, generation: policy.generation });
  return described(policy, policy.generation, !wrote);
}
