import { failedError, usageError } from './errors.js';
import type { Canary, Policy, ProcessEntry, ServicePolicy } from './policy-schema.js';
import { deadlineAt, describeStates, isoAt } from './policy-query.js';
import { editService } from './policy-process-transitions.js';
import { checkVersion } from './version.js';

/**
 * Version-level transitions: which version takes new logins (target,
 * canary) and which ones stop taking them (drain). Pure: time comes in as
 * `now`, every refusal is a SwitchyardError, the input is never changed, and
 * `generation`/`updatedAt` are left to the policy store.
 */

export {
  claimStart,
  claimStop,
  isLiveState,
  markActive,
  markFailed,
  reactivate,
  retire,
  takeOver,
  type NewProcess,
  type Owner,
  type ServiceDefaults,
  type StopClaim,
  type StopReason,
} from './policy-process-transitions.js';
export { servicePolicy, processesOf, versionsByState } from './policy-query.js';

/**
 * Makes `version` the target; the previous target's active processes start
 * draining. Promoting the target again returns the policy unchanged (the
 * same object), so a rerun in CI is a no-op rather than an error.
 */
export function promote(policy: Policy, service: string, version: string, now: Date, drainTimeoutMs: number): Policy {
  const checked = checkVersion(version);
  const { next, svc } = editService(policy, service);
  if (svc.target === checked) return policy;
  requireActive(svc, service, checked, 'promote');
  const deadline = deadlineAt(now, drainTimeoutMs);
  drainVersion(svc, svc.target, isoAt(now), deadline);
  svc.target = checked;
  if (svc.canary?.version === checked) svc.canary = null;
  return next;
}

/** Sends `weight` percent of logins to `version`, or stops the canary with null. */
export function setCanary(policy: Policy, service: string, canary: Canary | null): Policy {
  const { next, svc } = editService(policy, service);
  if (canary === null) {
    svc.canary = null;
    return next;
  }
  const version = checkVersion(canary.version);
  const { weight } = canary;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 100) {
    throw usageError('invalid_weight', `The canary weight must be a percentage from 0 to 100, got ${String(weight)}.`);
  }
  if (svc.target === null) {
    throw usageError('no_target', `${service} has no target yet, so there is nothing to split logins from: promote a version first.`, { service });
  }
  if (svc.target === version) {
    throw usageError('canary_is_target', `${version} is already the target of ${service}, so it cannot also be its canary: pick a version other than the target.`, { service, version });
  }
  requireActive(svc, service, version, 'make a canary of');
  svc.canary = { version, weight };
  return next;
}

/**
 * Stops new logins to a version that is not the target; its terminals stay
 * until the drain controller retires it. Processes already draining keep
 * their deadline, so draining twice never extends it.
 */
export function drain(policy: Policy, service: string, version: string, now: Date, drainTimeoutMs: number): Policy {
  const checked = checkVersion(version);
  const { next, svc } = editService(policy, service);
  if (svc.target === checked) {
    throw usageError('drain_target', `${checked} is the target of ${service}: promote another version or roll back before draining ${checked}.`, { service, version: checked });
  }
  const all = svc.processes.filter((p) => p.version === checked);
  if (all.length === 0) throw unknownVersion(service, checked);
  if (!all.some((p) => p.state === 'active' || p.state === 'draining')) {
    throw usageError('not_serving', `${service}@${checked} has no active or draining process (${describeStates(all)}), so there is nothing to drain.`, { service, version: checked });
  }
  const deadline = deadlineAt(now, drainTimeoutMs);
  drainVersion(svc, checked, isoAt(now), deadline);
  if (svc.canary?.version === checked) svc.canary = null;
  return next;
}

/**
 * Makes `toVersion` the target again. Its draining processes take logins
 * again; when none of its processes is alive any more the caller has to
 * start them first (`needs_restart`), which the CLI does before retrying.
 */
export function rollback(policy: Policy, service: string, toVersion: string, now: Date, drainTimeoutMs: number): Policy {
  const checked = checkVersion(toVersion);
  const { next, svc } = editService(policy, service);
  if (svc.target === checked) {
    throw usageError('already_target', `${checked} is already the target of ${service}; nothing to roll back to.`, { service, version: checked });
  }
  const all = svc.processes.filter((p) => p.version === checked);
  // A stopping process is never brought back: its stop is claimed. New incarnations are started instead.
  const alive = all.filter((p) => p.state === 'active' || p.state === 'draining');
  if (alive.length === 0) {
    const states = all.length === 0 ? 'none is in the policy' : describeStates(all);
    throw failedError('needs_restart', `${service}@${checked} has no active or draining process (${states}): its processes must be started again before rolling back to it.`, { service, version: checked, ids: all.map((p) => p.id) });
  }
  const since = isoAt(now);
  const deadline = deadlineAt(now, drainTimeoutMs);
  for (const p of alive) {
    if (p.state !== 'draining') continue;
    p.state = 'active';
    p.since = since;
    delete p.drainDeadline;
  }
  if (svc.target !== null && svc.target !== checked) drainVersion(svc, svc.target, since, deadline);
  svc.target = checked;
  if (svc.canary?.version === checked) svc.canary = null;
  return next;
}

function drainVersion(svc: ServicePolicy, version: string | null, since: string, deadline: string): void {
  if (version === null) return;
  for (const p of svc.processes) {
    if (p.version !== version || p.state !== 'active') continue;
    p.state = 'draining';
    p.since = since;
    p.drainDeadline = deadline;
  }
}

function requireActive(svc: ServicePolicy, service: string, version: string, verb: string): ProcessEntry[] {
  const all = svc.processes.filter((p) => p.version === version);
  if (all.length === 0) throw unknownVersion(service, version);
  const active = all.filter((p) => p.state === 'active');
  if (active.length === 0) {
    const hint = all.some((p) => p.state === 'draining')
      ? `bring its draining processes back with \`switchyard rollback --to ${version}\``
      : `wait until it is ready, or deploy ${version} again`;
    throw usageError('no_active_process', `Cannot ${verb} ${service}@${version}: none of its processes is active (${describeStates(all)}); ${hint}.`, { service, version });
  }
  return active;
}

function unknownVersion(service: string, version: string) {
  return usageError('unknown_version', `${service} has no process of version ${version}: deploy ${version} first.`, { service, version });
}
