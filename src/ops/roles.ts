import type { ServiceConfig } from '../config/schema.js';
import type { Policy } from '../core/policy-schema.js';
import { processesOf } from '../core/policy-query.js';
import { claimStop, promote, reactivate, rollback, setCanary, type Owner } from '../core/policy-transitions.js';
import { beginRollout, type RolloutBegin } from '../core/rollout-transitions.js';

/**
 * What a deployed version becomes once its processes are active. A
 * rollout makes it the canary at its first step's weight and starts the
 * plan, in the same commit.
 */
export type Role =
  | { kind: 'target' }
  | { kind: 'canary'; weight: number }
  | { kind: 'active' }
  | { kind: 'rollback' }
  | { kind: 'rollout'; plan: Omit<RolloutBegin, 'version' | 'now'> };

/** Processes of the version PM2 no longer runs: their stop is claimed (lost) instead of bringing them back. */
export interface DeadProcesses {
  ids: readonly string[];
  owner: Owner;
}

/**
 * The record step's policy change for a version: its draining processes
 * take logins again (a redeploy brings them back, as rollback does), the
 * service's match and login rules follow the config, then the role.
 * Processes PM2 no longer runs are never brought back: in the same commit
 * their stop is claimed as lost (the reconcile loop finishes it).
 * Returns the same object when nothing changes, so a rerun writes nothing.
 */
export function applyRole(policy: Policy, service: ServiceConfig, version: string, role: Role, now: Date, dead?: DeadProcesses): Policy {
  if (!Object.hasOwn(policy.services, service.name)) return policy;
  let next = policy;
  const lost = (dead?.ids ?? []).filter((id) => {
    const svc = next.services[service.name]!;
    const p = svc.processes.find((e) => e.id === id);
    return p !== undefined && (p.state === 'draining' || (p.state === 'active' && p.version !== svc.target && p.version !== svc.canary?.version));
  });
  if (lost.length > 0) next = claimStop(next, service.name, lost, { now, reason: 'lost', owner: dead!.owner });
  const svc = next.services[service.name]!;
  if (role.kind === 'rollback') return svc.target === version ? next : rollback(next, service.name, version, now, service.drain.timeoutMs);
  const draining = processesOf(next, service.name, version, ['draining']).map((p) => p.id);
  if (draining.length > 0) next = reactivate(next, service.name, draining, now);
  if (svc.match !== service.match || svc.login !== service.login) {
    next = next === policy ? structuredClone(policy) : next;
    next.services[service.name]!.match = service.match;
    next.services[service.name]!.login = service.login;
  }
  if (role.kind === 'target') next = promote(next, service.name, version, now, service.drain.timeoutMs);
  if (role.kind === 'canary') {
    const current = next.services[service.name]!.canary;
    if (current?.version !== version || current.weight !== role.weight) next = setCanary(next, service.name, { version, weight: role.weight });
  }
  if (role.kind === 'rollout') next = beginRollout(next, service.name, { ...role.plan, version, now });
  return next;
}
