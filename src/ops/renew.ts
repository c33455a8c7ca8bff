import type { Policy } from '../core/policy-schema.js';
import { claimant } from './claims.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';

/**
 * Keeps this owner's claims in a service alive while it works on them
 * (starting a version across many hosts, waiting for readiness): every
 * third of the lease the claims' `until` moves forward in one commit, so a
 * live owner's claim never looks abandoned however long the work takes.
 * A renewal that fails is tried again at the next beat; the claims then
 * simply last their lease.
 */
export function renewWhileWorking(deps: OpsDeps, service: string, leaseMs: number): { stop(): void } {
  const every = Math.max(1000, Math.floor(leaseMs / 3));
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= commitChange(deps, 'renew claims', (head) => renewed(head, service, deps.owner.id, claimant(deps.owner, deps.clock.now(), leaseMs)))
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
      });
  }, every);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

function renewed(head: Policy, service: string, ownerId: string, owner: ReturnType<typeof claimant>): Policy {
  const svc = Object.hasOwn(head.services, service) ? head.services[service]! : undefined;
  const mine = (svc?.processes ?? []).filter((p) => (p.state === 'starting' || p.state === 'stopping') && p.owner?.id === ownerId);
  if (mine.length === 0) return head;
  const next = structuredClone(head);
  for (const p of next.services[service]!.processes) {
    if ((p.state === 'starting' || p.state === 'stopping') && p.owner?.id === ownerId) p.owner = { ...owner };
  }
  return next;
}
