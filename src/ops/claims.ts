import { ownerAlive } from './owner.js';
import type { Policy, ProcessEntry } from '../core/policy-schema.js';

/**
 * Telling a start claim still being worked on from one its owner left
 * behind (killed mid-deploy): a dead owner on this host, or a claim past
 * its `until`, is abandoned.
 */
function isAbandoned(p: ProcessEntry, nowMs: number): boolean {
  if (p.owner === undefined) return true;
  if (ownerAlive(p.owner) === false) return true;
  const until = p.owner.until === undefined ? Number.NaN : Date.parse(p.owner.until);
  return Number.isFinite(until) && nowMs > until;
}

function starting(policy: Policy, service: string, version: string): ProcessEntry[] {
  return (policy.services[service]?.processes ?? []).filter((p) => p.version === version && p.state === 'starting');
}

/** Start claims of service@version that a live command still holds. */
export function startsInProgress(policy: Policy, service: string, version: string, nowMs: number): ProcessEntry[] {
  return starting(policy, service, version).filter((p) => !isAbandoned(p, nowMs));
}

/** Ids of start claims of service@version whose owner is gone: a new deploy marks them failed in its own claim. */
export function abandonedStarts(policy: Policy, service: string, version: string, nowMs: number): string[] {
  return starting(policy, service, version).filter((p) => isAbandoned(p, nowMs)).map((p) => p.id);
}
