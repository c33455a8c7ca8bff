import type { Canary, Policy, ProcessEntry, ProcessState, ServicePolicy } from './policy-schema.js';
import { formatSteps } from './rollout-plan.js';
import type { Rollout } from './rollout-schema.js';

/**
 * What changed between two policy revisions, as a list `policy history` and
 * `policy diff` can print one line each. `generation` and `updatedAt` are
 * left out: every revision changes them, so they say nothing.
 */

export interface Endpoint {
  host: string;
  address: string;
  port: number;
}

export type PolicyChange =
  | { kind: 'service-added'; service: string }
  | { kind: 'service-removed'; service: string }
  | { kind: 'setting'; service: string; key: 'match' | 'login'; from: string; to: string }
  | { kind: 'target'; service: string; from: string | null; to: string | null }
  | { kind: 'canary'; service: string; from: Canary | null; to: Canary | null }
  | { kind: 'process-added'; service: string; id: string; state: ProcessState }
  | { kind: 'process-removed'; service: string; id: string }
  | { kind: 'process-state'; service: string; id: string; from: ProcessState; to: ProcessState }
  /** Same id on another host or port: a retired process started again elsewhere. */
  | { kind: 'process-endpoint'; service: string; id: string; from: Endpoint; to: Endpoint }
  /** A progressive rollout started, moved a step, recorded a verdict or ended (`what` says which, in words). */
  | { kind: 'rollout'; service: string; version: string; what: string };

/** What a service added from nothing is compared with, so only non-defaults show up. */
const BLANK_SERVICE: ServicePolicy = { target: null, canary: null, match: 'exact', login: 'force', processes: [] };

/** `before` null means the first revision: everything in `after` is new. */
export function diffPolicies(before: Policy | null, after: Policy): PolicyChange[] {
  const old = before?.services ?? {};
  const names = [...new Set([...Object.keys(old), ...Object.keys(after.services)])].sort();
  const changes: PolicyChange[] = [];
  for (const service of names) {
    const a = Object.hasOwn(old, service) ? old[service] : undefined;
    const b = Object.hasOwn(after.services, service) ? after.services[service] : undefined;
    if (b === undefined) {
      changes.push({ kind: 'service-removed', service });
      continue;
    }
    if (a === undefined) changes.push({ kind: 'service-added', service });
    changes.push(...diffService(service, a ?? BLANK_SERVICE, b));
  }
  return changes;
}

function diffService(service: string, a: ServicePolicy, b: ServicePolicy): PolicyChange[] {
  const changes: PolicyChange[] = [];
  for (const key of ['match', 'login'] as const) {
    if (a[key] !== b[key]) changes.push({ kind: 'setting', service, key, from: a[key], to: b[key] });
  }
  if (a.target !== b.target) changes.push({ kind: 'target', service, from: a.target, to: b.target });
  if (!sameCanary(a.canary, b.canary)) changes.push({ kind: 'canary', service, from: a.canary, to: b.canary });
  const before = new Map(a.processes.map((p) => [p.id, p]));
  for (const p of b.processes) {
    const q = before.get(p.id);
    if (q === undefined) {
      changes.push({ kind: 'process-added', service, id: p.id, state: p.state });
      continue;
    }
    if (!sameEndpoint(q, p)) changes.push({ kind: 'process-endpoint', service, id: p.id, from: endpoint(q), to: endpoint(p) });
    if (q.state !== p.state) changes.push({ kind: 'process-state', service, id: p.id, from: q.state, to: p.state });
  }
  const rollout = rolloutChange(a.rollout, b.rollout);
  if (rollout !== undefined && b.rollout !== undefined) changes.push({ kind: 'rollout', service, version: b.rollout.version, what: rollout });
  const kept = new Set(b.processes.map((p) => p.id));
  for (const q of a.processes) {
    if (!kept.has(q.id)) changes.push({ kind: 'process-removed', service, id: q.id });
  }
  return changes;
}

/** One short sentence per change, e.g. "lobby: target 1.4.0 → 1.5.0". */
export function describeChange(change: PolicyChange): string {
  switch (change.kind) {
    case 'service-added':
      return `${change.service}: service added`;
    case 'service-removed':
      return `${change.service}: service removed`;
    case 'setting':
      return `${change.service}: ${change.key} ${change.from} → ${change.to}`;
    case 'target':
      return `${change.service}: target ${change.from ?? 'none'} → ${change.to ?? 'none'}`;
    case 'canary':
      return `${change.service}: canary ${canaryText(change.from)} → ${canaryText(change.to)}`;
    case 'process-added':
      return `${change.id}: added (${change.state})`;
    case 'process-removed':
      return `${change.id}: removed`;
    case 'process-state':
      return `${change.id}: ${change.from} → ${change.to}`;
    case 'process-endpoint':
      return `${change.id}: moved ${endpointText(change.from)} → ${endpointText(change.to)}`;
    case 'rollout':
      return `${change.service}: rollout of ${change.version} ${change.what}`;
  }
}

/** What a rollout did between two revisions, in words; undefined when nothing. */
function rolloutChange(a: Rollout | undefined, b: Rollout | undefined): string | undefined {
  if (b === undefined || (a !== undefined && a.id === b.id && a.seq === b.seq)) return undefined;
  if (a?.id !== b.id) return `started: plan ${formatSteps(b.steps)}`;
  if (a.state !== b.state) return `${b.state}${b.reason === null ? '' : `: ${b.reason}`}`;
  if (a.step !== b.step) return `step ${a.step + 1} → ${b.step + 1} (canary ${b.steps[b.step]?.canary ?? '?'}%)`;
  const last = b.recent.at(-1);
  return last === undefined ? 'updated' : `verdict ${last.verdict}: ${last.reason}`;
}

function sameCanary(a: Canary | null, b: Canary | null): boolean {
  if (a === null || b === null) return a === b;
  return a.version === b.version && a.weight === b.weight;
}

function endpoint(p: ProcessEntry): Endpoint {
  return { host: p.host, address: p.address, port: p.port };
}

function sameEndpoint(a: ProcessEntry, b: ProcessEntry): boolean {
  return a.host === b.host && a.address === b.address && a.port === b.port;
}

function canaryText(c: Canary | null): string {
  return c === null ? 'none' : `${c.version} at ${c.weight}%`;
}

function endpointText(e: Endpoint): string {
  return `${e.host} ${e.address}:${e.port}`;
}
