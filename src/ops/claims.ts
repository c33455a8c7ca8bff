import type { Policy, ProcessEntry } from '../core/policy-schema.js';
import type { Owner } from '../core/policy-transitions.js';
import type { OpsDeps } from './deps.js';

/**
 * Claims and their owners. A command telling a claim still being worked on
 * from one left behind never trusts another machine's clock alone: an
 * owner known alive is never abandoned, one known dead always is, and an
 * owner that cannot be asked (another host) is abandoned only once its
 * `until` has passed by more than the configured clock skew.
 */

/** The owner a claim is committed under: this actor, working on it for `leaseMs` from now. */
export function claimant(owner: Owner, now: Date, leaseMs: number): Owner {
  const { id, pid, host } = owner;
  return { id, ...(pid === undefined ? {} : { pid }), ...(host === undefined ? {} : { host }), until: new Date(now.getTime() + leaseMs).toISOString(), leaseMs };
}

export interface ClaimJudge {
  nowMs: number;
  clockSkewMs: number;
  ownerAlive?(owner: Owner): boolean | undefined;
}

export function isAbandoned(p: ProcessEntry, judge: ClaimJudge): boolean {
  if (p.owner === undefined) return true;
  const alive = judge.ownerAlive?.(p.owner);
  if (alive !== undefined) return !alive;
  const until = p.owner.until === undefined ? Number.NaN : Date.parse(p.owner.until);
  return Number.isFinite(until) && judge.nowMs > until + judge.clockSkewMs;
}

export function judgeOf(deps: Pick<OpsDeps, 'clock' | 'config' | 'ownerAlive'>): ClaimJudge {
  return { nowMs: deps.clock.now().getTime(), clockSkewMs: deps.config.clockSkewMs, ...(deps.ownerAlive === undefined ? {} : { ownerAlive: deps.ownerAlive }) };
}

function starting(policy: Policy, service: string, version: string): ProcessEntry[] {
  return (policy.services[service]?.processes ?? []).filter((p) => p.version === version && p.state === 'starting');
}

/** Start claims of service@version that a live command still holds. */
export function startsInProgress(policy: Policy, service: string, version: string, judge: ClaimJudge): ProcessEntry[] {
  return starting(policy, service, version).filter((p) => !isAbandoned(p, judge));
}

/** Ids of start claims of service@version whose owner is gone: a new deploy marks them failed in its own claim. */
export function abandonedStarts(policy: Policy, service: string, version: string, judge: ClaimJudge): string[] {
  return starting(policy, service, version).filter((p) => isAbandoned(p, judge)).map((p) => p.id);
}

/** Ids of this owner's claims (`starting` or `stopping`) in a service. */
export function ownClaims(policy: Policy, service: string, ownerId: string, state: 'starting' | 'stopping' = 'starting'): Set<string> {
  return new Set((policy.services[service]?.processes ?? []).filter((p) => p.state === state && p.owner?.id === ownerId).map((p) => p.id));
}
