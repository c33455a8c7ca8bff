import type { ProcessRef, ReconcilePlan, StopDecision } from '../core/plan-reconcile.js';
import type { Policy, ProcessEntry } from '../core/policy-schema.js';
import { claimStop, markFailed, retire, takeOver } from '../core/policy-transitions.js';
import { actAuthorised, type ActItem } from '../ops/act.js';
import { claimant } from '../ops/claims.js';
import { commitChange } from '../ops/commit.js';
import type { OpsDeps } from '../ops/deps.js';
import type { ReconcileMetrics, TallySource } from './reconcile-loop.js';

export interface PlanRunDeps extends Pick<OpsDeps, 'store' | 'fleets' | 'clock' | 'owner' | 'lease' | 'by' | 'notify'> {
  ownerLeaseMs: number;
  log(line: string): void;
  tallies: TallySource;
  metrics?: ReconcileMetrics;
  beforeDeadlineStop?(entry: ProcessEntry): Promise<void>;
  /** Logs a line once per key until cleared (a failure repeated every pass is said once). */
  once(key: string, line: string): void;
  clearOnce(key: string): void;
}

/**
 * Runs one reconcile plan through the ops executor, exactly as planned:
 * 1. claim: abandoned starts marked failed, abandoned stop claims taken
 *    over, the planned stops claimed (each re-checked against the head it
 *    lands on: a decision that no longer holds is dropped, never forced);
 * 2. act: the plan's stops (its own claims, and those just claimed or taken
 *    over) and deletes, each only if the head, read again, authorises it;
 * 3. record: what was stopped, and what PM2 no longer has, retired.
 */
export async function runPlan(deps: PlanRunDeps, plan: ReconcilePlan): Promise<void> {
  const now = deps.clock.now();
  const self = claimant(deps.owner, now, deps.ownerLeaseMs);
  for (const [service, refs] of byService(plan.abandons)) {
    await commit(deps, 'mark abandoned starts failed', `mark abandoned starts of ${service} failed`, (head) => {
      const ids = refs.filter((r) => stateOf(head, service, r.id) === 'starting').map((r) => r.id);
      return ids.length === 0 ? head : markFailed(head, service, ids, now);
    }, (written) => deps.log(`${refs.map((r) => r.id).join(', ')}: start abandoned by its owner; marked failed (generation ${written.generation})`));
  }
  for (const [service, refs] of byService(plan.takeOvers)) {
    await commit(deps, 'take over stop claims', `take over stop claims of ${service}`, (head) => {
      const ids = refs.filter((r) => stateOf(head, service, r.id) === 'stopping').map((r) => r.id);
      return ids.length === 0 ? head : takeOver(head, service, ids, self);
    });
  }
  for (const [service, decisions] of byService(plan.claimStops)) {
    for (const reason of ['drained', 'deadline', 'lost'] as const) {
      const mine = decisions.filter((d) => d.reason === reason);
      if (mine.length === 0) continue;
      await commit(deps, `claim stops (${reason})`, `claim the stop of ${mine.map((d) => d.id).join(', ')}`, (head) => claimStill(head, service, mine, now, reason, self), (written) =>
        deps.log(`claimed the stop of ${mine.map((d) => d.id).join(', ')} (${reason}; generation ${written.generation})`));
    }
  }

  const toStop = [...plan.stops, ...plan.takeOvers, ...plan.claimStops];
  const head = await deps.store.read();
  const items: Array<ActItem<void>> = [
    ...toStop.map((r) => ({ service: r.service, id: r.id, host: r.host, kind: 'stop' as const, run: async (fleet: Parameters<ActItem<void>['run']>[0]) => {
      const entry = entryOf(head, r.service, r.id);
      if (entry?.reason === 'deadline' && deps.beforeDeadlineStop !== undefined) await deps.beforeDeadlineStop(entry).catch(() => undefined);
      await fleet.remove(r.id);
    } })),
    ...plan.deletes.map((r) => ({ service: r.service, id: r.id, host: r.host, kind: 'delete' as const, run: (fleet: Parameters<ActItem<void>['run']>[0]) => fleet.remove(r.id) })),
  ];
  const acts = await actAuthorised(deps, items);
  const stopped: ProcessRef[] = [];
  for (const [i, a] of acts.entries()) {
    const item = items[i]!;
    if (a.done) {
      deps.clearOnce(`remove:${a.id}`);
      if (item.kind === 'stop') stopped.push({ service: item.service, id: item.id, host: item.host });
      else deps.log(`deleted ${a.id} from PM2 on ${a.host}: the policy says it ${stateOf(head, item.service, a.id) ?? 'is gone'}`);
    } else if (!a.refused) {
      deps.once(`remove:${a.id}`, `could not stop ${a.id} on ${a.host}: ${a.reason}; will try again`);
    }
  }
  for (const [service, refs] of byService([...stopped, ...plan.retires])) {
    await commit(deps, 'record retired', `record ${service}'s stopped processes retired`, (h) => {
      const ids = refs.filter((r) => stateOf(h, service, r.id) === 'stopping').map((r) => r.id);
      return ids.length === 0 ? h : retire(h, service, ids, deps.clock.now());
    }, (written) => retired(deps, written, service, refs));
  }
}

async function commit(deps: PlanRunDeps, op: string, what: string, fn: (head: Policy) => Policy, onWritten?: (written: Policy) => void): Promise<void> {
  try {
    const { policy, wrote } = await commitChange(deps, op, fn);
    if (wrote) onWritten?.(policy);
  } catch (error) {
    deps.log(`could not ${what}: ${(error as Error).message}; will try again`);
  }
}

function retired(deps: PlanRunDeps, written: Policy, service: string, refs: readonly ProcessRef[]): void {
  for (const r of refs) {
    const p = entryOf(written, service, r.id);
    if (p?.state !== 'retired') continue;
    deps.tallies.forget(p.id);
    deps.metrics?.retired(service, p.reason ?? 'drained');
    deps.notify?.({ type: 'retire', service, version: p.version, generation: written.generation, reason: p.reason ?? 'drained', process: p.id, ...(p.terminalsCutOff === undefined ? {} : { terminalsCutOff: p.terminalsCutOff }) });
    const cut = p.terminalsCutOff ?? 0;
    if (cut > 0) deps.metrics?.cutOff(service, p.version, cut);
    deps.log(`${p.id} retired (${p.reason ?? 'stopped'}${cut > 0 ? `, cutting off ${cut} terminal${cut === 1 ? '' : 's'}` : ''}; generation ${written.generation})`);
  }
}

function entryOf(policy: Policy, service: string, id: string): ProcessEntry | undefined {
  return policy.services[service]?.processes.find((p) => p.id === id);
}

function stateOf(policy: Policy, service: string, id: string): string | undefined {
  return entryOf(policy, service, id)?.state;
}

/** The stop claims that still hold on `head`: still draining since the same time, version not taking logins. */
function claimStill(head: Policy, service: string, decisions: readonly StopDecision[], now: Date, reason: StopDecision['reason'], self: ReturnType<typeof claimant>): Policy {
  const svc = head.services[service];
  if (svc === undefined) return head;
  const still = decisions.filter((d) => {
    const p = svc.processes.find((e) => e.id === d.id);
    return p !== undefined && p.state === 'draining' && p.since === d.since && p.version !== svc.target && p.version !== svc.canary?.version;
  });
  if (still.length === 0) return head;
  return claimStop(head, service, still.map((d) => d.id), {
    now,
    reason,
    owner: self,
    terminals: Object.fromEntries(still.map((d) => [d.id, d.terminals])),
    expectSince: Object.fromEntries(still.map((d) => [d.id, d.since])),
  });
}

function byService<T extends { service: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) out.set(item.service, [...(out.get(item.service) ?? []), item]);
  return out;
}
