import { parseProcessId } from './names.js';
import { isGone, isServing } from './pm2-health.js';
import type { Owner, StopReason } from './policy-process-transitions.js';
import type { Policy, ProcessEntry } from './policy-schema.js';

/**
 * The reconcile planner: one pure function of (head policy, PM2's view per
 * host, heartbeat facts, time) → what to claim and what to act on. The loop
 * that calls it commits the claims with compare-and-set and acts only on
 * claims the head holds (src/control/). Level-triggered: it never remembers
 * what it did; a missed pass only delays convergence.
 */

export interface HeartbeatFacts {
  /** Heartbeat intervals in a row with zero terminals since the drain began (0 when stale). */
  zeroStreak: number;
  stale: boolean;
  /** Terminals in the last heartbeat (kept while stale). */
  terminals: number;
}

/** PM2's view of one host this pass: its processes by name, or undefined when it could not be asked. */
export type HostObservation = ReadonlyMap<string, { status: string }> | undefined;

export interface ReconcileInput {
  policy: Policy;
  observed: ReadonlyMap<string, HostObservation>;
  facts(processId: string): HeartbeatFacts;
  graceFor(service: string): number;
  /** Wall-clock milliseconds, for drain deadlines and claim expiry. */
  nowMs: number;
  /** This loop's own identity as a claim owner. */
  self: Owner;
  /** Whether a claim's owner still runs: false when known dead, undefined when it cannot be told from here. */
  ownerAlive(owner: Owner): boolean | undefined;
}

export interface StopDecision {
  service: string;
  id: string;
  version: string;
  host: string;
  reason: Extract<StopReason, 'drained' | 'deadline' | 'lost'>;
  terminals: number;
  /** The `since` the decision saw; the claim is refused if the process moved since. */
  since: string | undefined;
}

export interface ProcessRef {
  service: string;
  id: string;
  host: string;
}

export interface MissingProcess extends ProcessRef {
  version: string;
  /** What PM2 said: absent from its list, or its status (errored, stopped). */
  pm2: 'missing' | string;
  /** Its version is the target or the canary: new logins go to it. */
  takesLogins: boolean;
}

export interface ReconcilePlan {
  /** Draining (or lost) processes whose stop to claim: draining → stopping. */
  claimStops: StopDecision[];
  /** Stopping claims of owners that are gone or expired: to take over before acting. */
  takeOvers: ProcessRef[];
  /** Stopping processes held by this loop and still in PM2: stop them now. */
  stops: ProcessRef[];
  /** Stopping processes PM2 no longer has: record them retired. */
  retires: ProcessRef[];
  /** Starting claims whose owner is gone or expired: starting → failed. */
  abandons: ProcessRef[];
  /** Failed or retired entries whose process PM2 still runs: the committed state authorises deleting it. */
  deletes: ProcessRef[];
  /** Live entries PM2 lacks or reports errored or stopped. */
  missing: MissingProcess[];
  /** PM2 processes named like a process of a policy service that no entry names. */
  orphans: Array<{ host: string; id: string }>;
}


export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const plan: ReconcilePlan = { claimStops: [], takeOvers: [], stops: [], retires: [], abandons: [], deletes: [], missing: [], orphans: [] };
  const named = new Set<string>();
  for (const [service, svc] of Object.entries(input.policy.services)) {
    const servesLogins = (version: string) => version === svc.target || version === svc.canary?.version;
    for (const p of svc.processes) {
      named.add(p.id);
      const seen = input.observed.get(p.host);
      const ref = { service, id: p.id, host: p.host };
      // An unknown host (unreachable, or no PM2 daemon answering) is never taken for an empty one.
      if (seen === undefined) {
        if (p.state === 'starting' && abandoned(p, input)) plan.abandons.push(ref);
        continue;
      }
      const pm2 = seen.get(p.id);
      const down = !isServing(pm2?.status);
      switch (p.state) {
        case 'starting':
          if (abandoned(p, input)) plan.abandons.push(ref);
          break;
        case 'active':
          if (down) plan.missing.push({ ...ref, version: p.version, pm2: pm2 === undefined ? 'missing' : pm2.status, takesLogins: servesLogins(p.version) });
          break;
        case 'draining': {
          if (servesLogins(p.version)) break;
          const decision = drainDecision(service, p, isGone(pm2?.status), input);
          if (decision !== undefined) plan.claimStops.push(decision);
          if (down) plan.missing.push({ ...ref, version: p.version, pm2: pm2 === undefined ? 'missing' : pm2.status, takesLogins: false });
          break;
        }
        case 'stopping':
          if (pm2 === undefined) plan.retires.push(ref);
          else if (isSelf(p.owner, input.self)) plan.stops.push(ref);
          else if (abandoned(p, input)) plan.takeOvers.push(ref);
          break;
        case 'failed':
        case 'retired':
          if (pm2 !== undefined) plan.deletes.push(ref);
          break;
      }
    }
  }
  for (const [host, seen] of input.observed) {
    if (seen === undefined) continue;
    for (const name of seen.keys()) {
      const parsed = parseProcessId(name);
      if (parsed !== null && Object.hasOwn(input.policy.services, parsed.service) && !named.has(name)) plan.orphans.push({ host, id: name });
    }
  }
  return plan;
}

function drainDecision(service: string, p: ProcessEntry, down: boolean, input: ReconcileInput): StopDecision | undefined {
  const f = input.facts(p.id);
  const base = { service, id: p.id, version: p.version, host: p.host, since: p.since };
  // Lost from PM2: its terminals are already cut off; stopping it is only bookkeeping.
  if (down) return { ...base, reason: 'lost', terminals: f.terminals };
  if (!f.stale && f.zeroStreak >= input.graceFor(service)) return { ...base, reason: 'drained', terminals: 0 };
  const deadline = p.drainDeadline === undefined ? Number.NaN : Date.parse(p.drainDeadline);
  if (Number.isFinite(deadline) && input.nowMs >= deadline) return { ...base, reason: 'deadline', terminals: f.terminals };
  return undefined;
}

function isSelf(owner: Owner | undefined, self: Owner): boolean {
  return owner !== undefined && owner.id === self.id;
}

/** A claim nobody will finish: no owner, an owner known dead, or one past its `until`. */
function abandoned(p: ProcessEntry, input: ReconcileInput): boolean {
  const owner = p.owner;
  if (owner === undefined) return true;
  if (isSelf(owner, input.self)) return false;
  if (input.ownerAlive(owner) === false) return true;
  const until = owner.until === undefined ? Number.NaN : Date.parse(owner.until);
  return Number.isFinite(until) && input.nowMs > until;
}
