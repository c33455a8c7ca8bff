import { parseProcessId } from './names.js';
import { isGone, isServing } from './pm2-health.js';
import { describeRegression, type Regression } from './regression.js';
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

/**
 * Everything a pass knows, taken once before planning: the planner reads
 * it and nothing else, so what its unit tests assert is what runs.
 */
export interface ReconcileInput {
  policy: Policy;
  observed: ReadonlyMap<string, HostObservation>;
  /** Heartbeat facts per process id; a process not listed is fresh and holds nothing. */
  facts: ReadonlyMap<string, HeartbeatFacts>;
  /** Zero-terminal intervals each service's drain needs (default 2). */
  grace: Readonly<Record<string, number>>;
  /** Wall-clock milliseconds of this machine. */
  nowMs: number;
  /**
   * Milliseconds this loop has watched a thing on its own monotonic clock
   * (see `seenKey`): a claim with this owner and `until`, or a drain with
   * this `since`. Times written by another machine are never compared with
   * this one's clock alone: a claim is abandoned only after its lease has
   * passed here, and a drain deadline is reached only when both clocks say
   * so. Missing: seen just now.
   */
  seen: ReadonlyMap<string, number>;
  /** This loop's own identity as a claim owner. */
  self: Owner;
  /** Whether each claim owner (by id) still runs: false when known dead, undefined when it cannot be told from here. */
  owners: ReadonlyMap<string, boolean | undefined>;
  /** A head that went back and nobody acknowledged: nothing is stopped or deleted meanwhile. */
  regression?: Regression | undefined;
}

/** The key under which a claim or a drain's observation time is kept. */
export function seenKey(p: Pick<ProcessEntry, 'id' | 'state' | 'since' | 'owner'>): string {
  return p.state === 'draining' ? `drain ${p.id} ${p.since ?? ''}` : `claim ${p.id} ${p.owner?.id ?? ''} ${p.owner?.until ?? ''}`;
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

export interface Replacement {
  service: string;
  version: string;
  host: string;
  /** The lost processes on that host, replaced one for one. */
  lost: string[];
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
  /**
   * Active processes of the target or canary version that PM2 lost (gone,
   * errored or stopped; not one it is restarting): a new incarnation is
   * started on the same host, and the lost one's stop claimed in its record.
   */
  replacements: Replacement[];
  /** PM2 processes named like a process of a policy service that no entry names. */
  orphans: Array<{ host: string; id: string }>;
  /** Stops, takeovers and deletes this pass would have planned but holds back, and why (a regression). */
  held: { count: number; reason: string } | undefined;
}


const NO_FACTS: HeartbeatFacts = { zeroStreak: 0, stale: false, terminals: 0 };

function replace(plan: ReconcilePlan, service: string, p: ProcessEntry): void {
  const same = plan.replacements.find((r) => r.service === service && r.version === p.version && r.host === p.host);
  if (same !== undefined) same.lost.push(p.id);
  else plan.replacements.push({ service, version: p.version, host: p.host, lost: [p.id] });
}

export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const plan = planAll(input);
  if (input.regression === undefined) return plan;
  // Destructive steps wait for an operator: the head may not account for what runs.
  const count = plan.claimStops.length + plan.takeOvers.length + plan.stops.length + plan.deletes.length + plan.replacements.length;
  return { ...plan, claimStops: [], takeOvers: [], stops: [], deletes: [], replacements: [], held: count === 0 ? undefined : { count, reason: describeRegression(input.regression) } };
}

function planAll(input: ReconcileInput): ReconcilePlan {
  const plan: ReconcilePlan = { claimStops: [], takeOvers: [], stops: [], retires: [], abandons: [], deletes: [], missing: [], orphans: [], replacements: [], held: undefined };
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
          // Not while a command (a deploy of that version) is starting processes of it there: it brings them back itself.
          if (servesLogins(p.version) && isGone(pm2?.status) && !svc.processes.some((q) => q.version === p.version && q.host === p.host && q.state === 'starting')) replace(plan, service, p);
          break;
        case 'draining': {
          if (servesLogins(p.version)) break;
          const decision = drainDecision(service, p, isGone(pm2?.status), input);
          // While the target serves nowhere, a drained version is kept: a rollback can bring it back at once.
          if (decision !== undefined && (decision.reason !== 'drained' || targetServes(svc, input))) plan.claimStops.push(decision);
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
          if (pm2 !== undefined && !holdsTerminals(p, pm2.status, input)) plan.deletes.push(ref);
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

/**
 * A process its entry says is done with (failed, retired) is deleted only
 * once no terminal is on it. Terminals reach one when the head went back
 * past the record that made it active, under routers that routed to it
 * before any of them could see the loss, and its start was then found
 * abandoned: they leave in their own time, and the process is deleted
 * after them, never under them. One PM2 no longer runs holds nobody. As
 * in a drain, heartbeats that stopped keep their last count: silence is
 * never taken for an empty process.
 */
function holdsTerminals(p: ProcessEntry, status: string, input: ReconcileInput): boolean {
  return !isGone(status) && (input.facts.get(p.id)?.terminals ?? 0) > 0;
}

/** Whether some active process of the target answers (a host that cannot be asked is given the benefit of the doubt). */
function targetServes(svc: Policy['services'][string], input: ReconcileInput): boolean {
  if (svc.target === null) return true;
  return svc.processes.some((p) => {
    if (p.version !== svc.target || p.state !== 'active') return false;
    const seen = input.observed.get(p.host);
    return seen === undefined || isServing(seen.get(p.id)?.status);
  });
}

function drainDecision(service: string, p: ProcessEntry, down: boolean, input: ReconcileInput): StopDecision | undefined {
  const f = input.facts.get(p.id) ?? NO_FACTS;
  const base = { service, id: p.id, version: p.version, host: p.host, since: p.since };
  // Lost from PM2: its terminals are already cut off; stopping it is only bookkeeping.
  if (down) return { ...base, reason: 'lost', terminals: f.terminals };
  if (!f.stale && f.zeroStreak >= (input.grace[service] ?? 2)) return { ...base, reason: 'drained', terminals: 0 };
  if (deadlinePassed(p, input)) return { ...base, reason: 'deadline', terminals: f.terminals };
  return undefined;
}

/**
 * Whether a drain's deadline has passed. Its length (deadline − since) was
 * written by one clock; how much of it has gone is the smaller of this
 * machine's wall clock since `since` and this loop's own watch of the
 * drain, so a writer whose clock runs slow cannot make a deadline fire
 * early (a restarted loop waits longer, never less).
 */
function deadlinePassed(p: ProcessEntry, input: ReconcileInput): boolean {
  const deadline = p.drainDeadline === undefined ? Number.NaN : Date.parse(p.drainDeadline);
  if (!Number.isFinite(deadline)) return false;
  const since = p.since === undefined ? Number.NaN : Date.parse(p.since);
  if (!Number.isFinite(since)) return input.nowMs >= deadline;
  const watched = input.seen.get(seenKey(p)) ?? 0;
  return Math.min(input.nowMs - since, watched) >= deadline - since;
}

function isSelf(owner: Owner | undefined, self: Owner): boolean {
  return owner !== undefined && owner.id === self.id;
}

/**
 * A claim nobody will finish: no owner, or an owner known dead. An owner
 * known alive keeps it however long it takes. One that cannot be asked
 * (another host) loses it once its lease has passed on this loop's own
 * clock, counted from when the loop first saw this claim with this
 * `until` (a renewal moves `until`, and the count starts over).
 */
function abandoned(p: ProcessEntry, input: ReconcileInput): boolean {
  const owner = p.owner;
  if (owner === undefined) return true;
  // This loop's own stop claims are its to finish; its own start claims only while a replacement works on them
  // (one left behind by a record that never landed, or a head that went back, is abandoned like any other).
  if (isSelf(owner, input.self)) return p.state === 'starting' && input.owners.get(owner.id) === false;
  const alive = input.owners.get(owner.id);
  if (alive !== undefined) return !alive;
  const lease = owner.leaseMs ?? leaseFromTimes(owner.until, p.since);
  return lease !== undefined && (input.seen.get(seenKey(p)) ?? 0) > lease;
}

/** A claim written before leases were recorded: its lease is until − since, both written by its owner's clock. */
function leaseFromTimes(until: string | undefined, since: string | undefined): number | undefined {
  const a = until === undefined ? Number.NaN : Date.parse(until);
  const b = since === undefined ? Number.NaN : Date.parse(since);
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, a - b) : undefined;
}
