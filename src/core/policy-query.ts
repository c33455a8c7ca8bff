import { failedError, usageError } from './errors.js';
import { checkServiceName } from './names.js';
import { PROCESS_STATES, type Policy, type ProcessEntry, type ProcessState, type ServicePolicy } from './policy-schema.js';
import { compareVersionsDesc } from './version.js';

/**
 * Read-only questions about a policy, shared by the transitions, the CLI and
 * the router. Nothing here changes its input.
 */

/** The service's entry; refuses an unknown service by naming the known ones. */
export function servicePolicy(policy: Policy, service: string): ServicePolicy {
  checkServiceName(service);
  // hasOwn: a name like "constructor" passes the name check and must not hit Object.prototype.
  const entry = Object.hasOwn(policy.services, service) ? policy.services[service] : undefined;
  if (entry === undefined) {
    const known = Object.keys(policy.services).sort();
    const hint = known.length === 0
      ? 'the policy has no services yet: deploy one first'
      : `known services: ${known.join(', ')}`;
    throw usageError('unknown_service', `There is no service "${service}" in the policy (${hint}).`, { service, known });
  }
  return entry;
}

/** The service's processes of one version, optionally only those in the given states. */
export function processesOf(
  policy: Policy,
  service: string,
  version: string,
  states?: readonly ProcessState[],
): ProcessEntry[] {
  return servicePolicy(policy, service).processes.filter(
    (p) => p.version === version && (states === undefined || states.includes(p.state)),
  );
}

/**
 * For each state, the versions having at least one process in it, newest
 * first. A version split across states (one instance failed, one active)
 * is listed under each.
 */
export function versionsByState(service: ServicePolicy): Record<ProcessState, string[]> {
  const out = Object.fromEntries(PROCESS_STATES.map((s) => [s, [] as string[]])) as Record<ProcessState, string[]>;
  for (const p of service.processes) {
    if (!out[p.state].includes(p.version)) out[p.state].push(p.version);
  }
  for (const state of PROCESS_STATES) out[state].sort(compareVersionsDesc);
  return out;
}

/** "2 active, 1 draining": how a version's processes stand, for messages. */
export function describeStates(processes: readonly ProcessEntry[]): string {
  const counts = new Map<ProcessState, number>();
  for (const p of processes) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  return PROCESS_STATES.filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`).join(', ');
}

/** `now` as ISO; an invalid Date is a caller bug, reported rather than thrown as RangeError. */
export function isoAt(now: Date): string {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw failedError('invalid_time', 'The current time given to a policy transition is not a valid date.');
  }
  return now.toISOString();
}

/** The drain deadline `drainTimeoutMs` after `now`. */
export function deadlineAt(now: Date, drainTimeoutMs: number): string {
  if (typeof drainTimeoutMs !== 'number' || !Number.isFinite(drainTimeoutMs) || drainTimeoutMs < 0) {
    throw usageError('invalid_duration', `The drain timeout must be a non-negative number of milliseconds, got ${String(drainTimeoutMs)}.`);
  }
  isoAt(now);
  const deadline = new Date(now.getTime() + drainTimeoutMs);
  // A timeout so large the date overflows is as unusable as a negative one.
  if (Number.isNaN(deadline.getTime())) {
    throw usageError('invalid_duration', `The drain timeout of ${drainTimeoutMs}ms is too long.`);
  }
  return deadline.toISOString();
}
