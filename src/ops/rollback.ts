import type { ServiceConfig } from '../config/schema.js';
import { failedError, usageError } from '../core/errors.js';
import { processesOf } from '../core/policy-query.js';
import type { Policy } from '../core/policy-schema.js';
import { liveInFleet } from '../fleet/alive.js';
import type { Store } from '../store/store.js';
import { bringBack } from './bring-back.js';
import { claimant } from './claims.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';
import { describeHosts } from './host-report.js';
import { launch } from './launch.js';
import { applyRole } from './roles.js';

export interface RollbackRequest {
  service: ServiceConfig;
  /** The version to go back to; default the most recent earlier target in the history. */
  to?: string;
  token: string;
  env: NodeJS.ProcessEnv;
  dryRun?: boolean;
}

export interface RollbackResult {
  service: string;
  target: string;
  previousTarget: string | null;
  generation: number;
  unchanged: boolean;
  /** New incarnations started because no process of the version was live. */
  restarted: string[];
  /** With dryRun: whether new processes would have to be started first. */
  needsStart: boolean;
  before: Policy;
  after: Policy;
}

/** The most recent earlier target of a service, read from the policy history. */
export async function previousTarget(store: Store, service: string, current: string | null, generation: number): Promise<string | undefined> {
  const entries = (await store.history()).filter((e) => e.broken === undefined && e.generation < generation).sort((a, b) => b.generation - a.generation);
  for (const entry of entries) {
    const revision = await store.revision(entry.generation);
    const target = Object.hasOwn(revision.services, service) ? revision.services[service]!.target : null;
    if (target !== null && target !== current) return target;
  }
  return undefined;
}

/**
 * `rollback`: the previous target becomes the target again, its draining
 * processes take logins again (same pid, same sessions); when none of its
 * processes is live any more, new incarnations are started first and the
 * switch is their record commit. The current target drains.
 */
export async function rollback(deps: OpsDeps, req: RollbackRequest): Promise<RollbackResult> {
  const { service } = req;
  const before = await deps.store.read();
  const current = before.services[service.name]?.target ?? null;
  const to = req.to ?? (await previousTarget(deps.store, service.name, current, before.generation));
  if (to === undefined) {
    throw usageError('no_previous_target', `${service.name} has no earlier target in the policy history to roll back to${current ? ` (the target is ${current})` : ''}: name one with --to <version>.`);
  }
  const result = (after: Policy, generation: number, extra: Partial<RollbackResult> = {}): RollbackResult =>
    ({ service: service.name, target: to, previousTarget: current, generation, unchanged: false, restarted: [], needsStart: false, before, after, ...extra });
  if (to === current) return result(before, before.generation, { unchanged: true });
  // Only processes PM2 really runs can take logins again; lost ones have their stop claimed instead.
  const { live, dead } = await liveInFleet(deps.fleets, processesOf(before, service.name, to, ['active', 'draining']));
  const lost = { ids: dead.map((p) => p.id), owner: claimant(deps.owner, deps.clock.now(), 60_000) };
  const apply = (head: Policy) => applyRole(head, service, to, { kind: 'rollback' }, deps.clock.now(), lost);
  if (req.dryRun === true) return live.length > 0 ? result(apply(before), before.generation) : result(before, before.generation, { needsStart: true });
  let written: Policy | undefined;
  if (live.length > 0) written = (await bringBack(() => commitChange(deps, 'rollback', apply, { retries: 0 })))?.policy;
  let restarted: string[] = [];
  if (written === undefined) {
    // No live process (or they were claimed for a stop meanwhile): start new incarnations, then switch.
    deps.progress?.step(`${service.name}@${to} has no live process: starting it again`);
    const launched = await launch(deps, { service, version: to, token: req.token, env: req.env, op: 'rollback', leaseMs: service.readiness.timeoutMs * 2 + 60_000, finish: apply });
    if (!launched.ok) {
      throw failedError('rollback_failed', `Could not start ${service.name}@${to} again, so nothing was rolled back; the target is still ${current ?? 'unset'}.\n${describeHosts(launched)}`, { processes: launched.processes, hosts: launched.hosts });
    }
    written = launched.policy!;
    restarted = launched.claimed;
  }
  deps.notify?.({ type: 'rollback', service: service.name, version: to, from: current, generation: written.generation });
  return result(written, written.generation, { restarted });
}
