import { claimedGeneration, parseProcessId } from '../core/names.js';
import type { Policy } from '../core/policy-schema.js';
import { describeRegression, regressionOf, type Regression } from '../core/regression.js';
import { fleetView } from '../fleet/fleet-view.js';
import { actAuthorised } from './act.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';

export interface Orphan {
  host: string;
  id: string;
  /** Claimed by a generation the store no longer has: it may be serving terminals. */
  lost: boolean;
}

export interface PruneRequest {
  /** Delete, not only find. */
  remove: boolean;
  /** An operator confirmed (`--yes`): orphans of lost generations may go too, and the regression is acknowledged. */
  confirmed: boolean;
  /** Between the two looks (default 1 s): a name must be an orphan in both. */
  pauseMs?: number;
  /** With `confirmed`: the highest generation the routers saw before the store went back (their alarm says it). */
  acknowledge?: number;
}

export interface PruneResult {
  orphans: Orphan[];
  deleted: string[];
  kept: Array<{ id: string; host: string; reason: string }>;
  regression: Regression | undefined;
  /** The generation acknowledged, when this run confirmed a regression. */
  acknowledged: number | undefined;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** Writes the operator's acknowledgement that the store went back as far as `through`; returns the generation written. */
async function acknowledge(deps: OpsDeps, through: number): Promise<number> {
  const { policy } = await commitChange(deps, 'acknowledge regression', (p) => (p.acknowledged !== undefined && p.acknowledged.through >= through ? p : { ...p, acknowledged: { through, at: deps.clock.now().toISOString() } }));
  return policy.generation;
}

/** PM2's names on every host a service or the policy names (hosts that cannot be asked are skipped). */
async function look(deps: OpsDeps, policyHosts: Iterable<string>): Promise<Array<{ host: string; id: string }>> {
  const hosts = new Set([...Object.values(deps.config.services).flatMap((s) => s.hosts), ...policyHosts]);
  const views = await fleetView(deps.fleets, hosts);
  return [...views.values()].flatMap((v) => [...(v.processes?.keys() ?? [])].map((id) => ({ host: v.host, id })));
}

function orphansOf(listed: Array<{ host: string; id: string }>, head: Policy, services: Set<string>): Orphan[] {
  const named = new Set(Object.values(head.services).flatMap((s) => s.processes.map((p) => p.id)));
  const floor = Math.max(head.generation, head.acknowledged?.through ?? -1);
  return listed.flatMap(({ host, id }) => {
    const parsed = parseProcessId(id);
    if (parsed === null || !services.has(parsed.service) || named.has(id)) return [];
    return [{ host, id, lost: (claimedGeneration(id) ?? -1) > floor }];
  });
}

/**
 * Finds (and with `remove`, deletes) PM2 processes named like a process of
 * a known service that no entry of the policy names. PM2 is listed first
 * and the head read after, so a process a deploy claimed and started in
 * between is named by that later head; a name must be an orphan in two
 * such looks in a row; and each delete goes through the executor, which
 * reads the head once more right before it. Orphans claimed by generations
 * the store lost (its head went back) may be serving terminals: they go
 * only when an operator confirms, which also acknowledges the regression.
 */
export async function prune(deps: OpsDeps, req: PruneRequest): Promise<PruneResult> {
  const services = new Set([...Object.keys(deps.config.services)]);
  const hostsOf = (p: Policy) => Object.values(p.services).flatMap((s) => s.processes.map((e) => e.host));
  let head = await deps.store.read();
  for (const name of Object.keys(head.services)) services.add(name);
  // PM2 first, the head after: whatever a deploy claimed before it started is named by this head.
  const seen = await look(deps, hostsOf(head));
  head = await deps.store.read();
  const first = orphansOf(seen, head, services);
  const running = first.map((o) => o.id);
  const regression = regressionOf(head, req.acknowledge === undefined ? [] : [req.acknowledge], running);
  // What the operator confirms: the regression the routers alarm about (`acknowledge`), and any the running names prove.
  const through = Math.max(regression?.highest ?? -1, req.acknowledge ?? -1);
  const acknowledged = req.remove && req.confirmed && through >= 0 ? await acknowledge(deps, through) : undefined;
  if (!req.remove || first.length === 0) return { orphans: first, deleted: [], kept: [], regression, acknowledged };
  await sleep(req.pauseMs ?? 1000);
  const listed = await look(deps, hostsOf(head));
  head = await deps.store.read();
  const again = new Set(orphansOf(listed, head, services).map((o) => `${o.host}\n${o.id}`));
  const both = first.filter((o) => again.has(`${o.host}\n${o.id}`));
  const kept: PruneResult['kept'] = first.filter((o) => !again.has(`${o.host}\n${o.id}`)).map((o) => ({ id: o.id, host: o.host, reason: 'not an orphan in the second look (the policy names it now, or PM2 no longer runs it)' }));
  const lost = both.filter((o) => o.lost);
  if (lost.length > 0 && !req.confirmed) {
    for (const o of lost) kept.push({ id: o.id, host: o.host, reason: `claimed by a generation the store lost, so it may be serving terminals: ${describeRegression(regression ?? { head: head.generation, highest: claimedGeneration(o.id) ?? head.generation, evidence: o.id })}` });
  }
  const doomed = both.filter((o) => !o.lost || req.confirmed);
  const acts = await actAuthorised(deps, doomed.map((o) => ({ service: parseProcessId(o.id)!.service, id: o.id, host: o.host, kind: 'delete-orphan' as const, run: (fleet) => fleet.remove(o.id) })));
  for (const a of acts) if (!a.done) kept.push({ id: a.id, host: a.host, reason: a.reason });
  return { orphans: first, deleted: acts.filter((a) => a.done).map((a) => a.id), kept, regression, acknowledged };
}
