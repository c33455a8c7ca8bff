import type { ServiceConfig } from '../config/schema.js';
import { failedError } from '../core/errors.js';
import { processesOf } from '../core/policy-query.js';
import type { Policy } from '../core/policy-schema.js';
import { claimStop, drain as drainVersion, retire } from '../core/policy-transitions.js';
import { actAuthorised } from './act.js';
import { claimant } from './claims.js';
import { commitChange } from './commit.js';
import type { OpsDeps } from './deps.js';

export interface DrainRequest {
  service: ServiceConfig;
  version: string;
  dryRun?: boolean;
}

export interface DrainResult {
  service: string;
  version: string;
  generation: number;
  draining: string[];
  before: Policy;
  after: Policy;
}

/** The drain of a version, or the policy itself when it drains already (no new revision for it). */
function drained(policy: Policy, service: ServiceConfig, version: string, now: Date): Policy {
  const next = drainVersion(policy, service.name, version, now, service.drain.timeoutMs);
  return JSON.stringify(next) === JSON.stringify(policy) ? policy : next;
}

/** `drain <version>`: no new logins to it; its terminals stay until the reconcile loop retires it. */
export async function drain(deps: OpsDeps, req: DrainRequest): Promise<DrainResult> {
  const before = await deps.store.read();
  const apply = (p: Policy) => drained(p, req.service, req.version, deps.clock.now());
  const after = req.dryRun === true ? apply(before) : (await commitChange(deps, 'drain', apply, { retries: 0 })).policy;
  const draining = processesOf(after, req.service.name, req.version, ['draining']).map((p) => p.id);
  return { service: req.service.name, version: req.version, generation: after.generation, draining, before, after };
}

export interface DrainNowRequest extends DrainRequest {
  /** Terminals each process holds by its last heartbeat (from the router); undefined when it did not answer. */
  held: ReadonlyMap<string, number> | undefined;
}

export interface DrainNowResult extends DrainResult {
  stopped: string[];
  failed: Array<{ id: string; reason: string }>;
  /** Terminals cut off by the stop; null when the router could not say. */
  terminalsCutOff: number | null;
}

/**
 * `drain <version> --now`: claim → act → record. The stop is committed
 * (stopping, owned by this command) before anything is stopped; only what
 * the head then still shows as this command's claims is stopped; the
 * stopped ones are recorded retired. A stop that fails stays claimed, and
 * the router's reconcile loop finishes it.
 */
export async function drainNow(deps: OpsDeps, req: DrainNowRequest): Promise<DrainNowResult> {
  const { service, version, held } = req;
  const before = await deps.store.read();
  const claim = (head: Policy, owner = claimant(deps.owner, deps.clock.now(), service.killTimeoutMs * 2 + 60_000)) => {
    const next = drained(head, service, version, deps.clock.now());
    const ids = processesOf(next, service.name, version, ['draining']).map((p) => p.id);
    return ids.length === 0 ? next : claimStop(next, service.name, ids, { now: deps.clock.now(), reason: 'now', owner, terminals: Object.fromEntries(ids.map((id) => [id, held?.get(id) ?? 0])) });
  };
  const mineIn = (p: Policy) => processesOf(p, service.name, version, ['stopping']).filter((e) => e.owner?.id === deps.owner.id);
  if (req.dryRun === true) {
    const after = claim(before, { id: deps.owner.id });
    return { service: service.name, version, generation: before.generation, draining: [], before, after, stopped: [], failed: [], terminalsCutOff: null };
  }
  const claimed = await commitChange(deps, 'drain now', (head) => claim(head));
  const mine = mineIn(claimed.policy);
  const acts = await actAuthorised(deps, mine.map((p) => ({ service: service.name, id: p.id, host: p.host, kind: 'stop' as const, run: (fleet) => fleet.remove(p.id) })));
  const stopped = acts.filter((a) => a.done).map((a) => a.id);
  const after = stopped.length === 0 ? claimed.policy : (await commitChange(deps, 'drain now record', (head) => {
    const still = stopped.filter((id) => mineIn(head).some((e) => e.id === id));
    return still.length === 0 ? head : retire(head, service.name, still, deps.clock.now());
  })).policy;
  const failed = acts.flatMap((a) => (a.done ? [] : [{ id: a.id, reason: a.reason }]));
  const terminalsCutOff = held === undefined ? null : mine.reduce((n, p) => n + (held.get(p.id) ?? 0), 0);
  for (const id of stopped) deps.notify?.({ type: 'retire', service: service.name, version, generation: after.generation, reason: 'now', process: id });
  const result = { service: service.name, version, generation: after.generation, draining: [], before, after, stopped, failed, terminalsCutOff };
  if (failed.length > 0) {
    throw failedError('drain_stop_failed', `Could not stop ${failed.map((f) => `${f.id} (${f.reason})`).join(', ')}: their stop is claimed (state stopping), and the router's reconcile loop finishes it once the host answers; or run the command again.`, { stops: acts, terminalsCutOff, stopped });
  }
  return result;
}
