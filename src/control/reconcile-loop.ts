import { planReconcile, type HostObservation, type MissingProcess, type ProcessRef, type ReconcilePlan, type StopDecision } from '../core/plan-reconcile.js';
import type { Policy } from '../core/policy-schema.js';
import { claimStop, markFailed, retire, takeOver, type Owner } from '../core/policy-transitions.js';
import type { Fleet } from '../fleet/fleet.js';
import type { Store } from '../store/store.js';
import { commitIfChanged } from '../store/commit-if-changed.js';
import { DrainBaselines } from './drain-baselines.js';

/** What the loop needs from heartbeats (the router's tally book). */
export interface TallySource {
  processView(id: string, nowMs: number): { stale: boolean; terminals: number };
  zeroStreak(id: string, nowMs?: number): number;
  forget(id: string): void;
}

export interface ReconcileMetrics {
  retired(service: string, reason: string): void;
  cutOff(service: string, version: string, terminals: number): void;
}

export interface ReconcileDeps {
  store: Store;
  /** A host's fleet, or undefined while none can be asked (no PM2 daemon, host unreachable). */
  fleet(host: string): Promise<Fleet | undefined>;
  tallies: TallySource;
  graceFor(service: string): number;
  intervalMs: number;
  self: Owner;
  /** How long a claim of this loop stays its own if it stops renewing (its `until`). */
  ownerLeaseMs?: number;
  ownerAlive(owner: Owner): boolean | undefined;
  log(line: string): void;
  metrics?: ReconcileMetrics;
  /** Told after every pass which live processes PM2 lacks or reports down. */
  onObserved?(missing: readonly MissingProcess[], orphans: ReconcilePlan['orphans']): void;
  /** Monotonic milliseconds (heartbeat ages); wall-clock for deadlines. */
  monoNow?: () => number;
  wallNow?: () => number;
  /** The fencing token commits carry (the drain leader's lease, with several routers). */
  fence?: () => number | undefined;
  /**
   * Whether this loop may claim and act now (the drain leader, with several
   * routers). Without it, passes still plan: baselines, missing processes.
   */
  mayAct?: () => boolean;
}

/**
 * The level-triggered reconcile loop (claim → act → record). Every interval
 * it reads the head policy and PM2's list, plans with the pure planner,
 * commits the claims with compare-and-set, and only then acts: a process is
 * stopped only while the head holds a `stopping` claim of this loop's, and
 * deleted only when the head says it is failed or retired. Any error is
 * logged and the next pass tries again.
 */
export class ReconcileLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReconcilePlan | undefined> | undefined;
  private readonly baselines = new DrainBaselines();
  private readonly reported = new Set<string>();

  constructor(private readonly deps: ReconcileDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** One pass; overlapping calls share the pass already running. Never rejects. */
  tick(): Promise<ReconcilePlan | undefined> {
    this.running ??= this.pass()
      .catch((error: unknown) => {
        this.deps.log(`reconcile pass failed: ${(error as Error).message}; trying again next interval`);
        return undefined;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async pass(): Promise<ReconcilePlan> {
    const policy = await this.deps.store.read();
    const observed = await this.observe(policy);
    const mono = (this.deps.monoNow ?? (() => performance.now()))();
    const wall = (this.deps.wallNow ?? Date.now)();
    const draining = this.baselines.track(policy);
    const plan = planReconcile({
      policy,
      observed,
      facts: (id) => {
        const view = this.deps.tallies.processView(id, mono);
        const streak = this.baselines.since(id, draining.get(id), this.deps.tallies.zeroStreak(id, mono));
        return { zeroStreak: streak, stale: view.stale, terminals: view.terminals };
      },
      graceFor: this.deps.graceFor,
      nowMs: wall,
      self: this.deps.self,
      ownerAlive: this.deps.ownerAlive,
    });
    this.deps.onObserved?.(plan.missing, plan.orphans);
    this.reportMissing(plan.missing);
    if (!this.mayAct()) return plan;
    await this.claim(plan, new Date(wall));
    await this.act(observed, new Date(wall));
    return plan;
  }

  private mayAct(): boolean {
    return this.deps.mayAct?.() ?? true;
  }

  private async observe(policy: Policy): Promise<Map<string, HostObservation>> {
    const hosts = new Set<string>();
    for (const svc of Object.values(policy.services)) for (const p of svc.processes) hosts.add(p.host);
    const observed = new Map<string, HostObservation>();
    await Promise.all(
      [...hosts].map(async (host) => {
        try {
          const fleet = await this.deps.fleet(host);
          observed.set(host, fleet === undefined ? undefined : new Map((await fleet.list()).map((p) => [p.id, { status: p.status }])));
          // Answered again: a later outage of this host is reported anew.
          this.reported.delete(`list:${host}`);
        } catch (error) {
          observed.set(host, undefined);
          this.once(`list:${host}`, `cannot ask PM2 on host ${host}: ${(error as Error).message}; its processes are unknown this pass`);
        }
      }),
    );
    return observed;
  }

  /** Commits every claim the plan asks for; each is re-checked against the head it lands on. */
  private async claim(plan: ReconcilePlan, now: Date): Promise<void> {
    const fence = this.deps.fence?.();
    const opts = fence === undefined ? {} : { fence };
    const self: Owner = { ...this.deps.self, until: new Date(now.getTime() + (this.deps.ownerLeaseMs ?? 10 * 60_000)).toISOString() };
    for (const [service, refs] of byService(plan.abandons)) {
      await this.commit(`mark abandoned starts of ${service} failed`, (head) => {
        const ids = refs.filter((r) => stateOf(head, service, r.id) === 'starting').map((r) => r.id);
        return ids.length === 0 ? head : markFailed(head, service, ids, now);
      }, opts, (written) => this.deps.log(`${refs.map((r) => r.id).join(', ')}: start abandoned by its owner; marked failed (generation ${written.generation})`));
    }
    for (const [service, refs] of byService(plan.takeOvers)) {
      await this.commit(`take over stop claims of ${service}`, (head) => {
        const ids = refs.filter((r) => stateOf(head, service, r.id) === 'stopping').map((r) => r.id);
        return ids.length === 0 ? head : takeOver(head, service, ids, self);
      }, opts);
    }
    for (const [service, decisions] of byService(plan.claimStops)) {
      for (const reason of ['drained', 'deadline', 'lost'] as const) {
        const mine = decisions.filter((d) => d.reason === reason);
        if (mine.length === 0) continue;
        await this.commit(`claim the stop of ${mine.map((d) => d.id).join(', ')}`, (head) => claimStill(head, service, mine, now, reason, self), opts, (written) =>
          this.deps.log(`claimed the stop of ${mine.map((d) => d.id).join(', ')} (${reason}; generation ${written.generation})`));
      }
    }
    for (const [service, refs] of byService(plan.retires)) {
      await this.commit(`record ${service}'s stopped processes retired`, (head) => {
        const ids = refs.filter((r) => stateOf(head, service, r.id) === 'stopping').map((r) => r.id);
        return ids.length === 0 ? head : retire(head, service, ids, now);
      }, opts, (written) => this.retired(written, service, refs));
    }
  }

  /**
   * Acts on what the head, read again after the claims, authorises: this
   * loop's stopping claims are stopped, and failed or retired entries PM2
   * still runs are deleted. Then the stops are recorded.
   */
  private async act(observed: ReadonlyMap<string, HostObservation>, now: Date): Promise<void> {
    const head = await this.deps.store.read();
    // Asked again after every await: a leader that lost its lease meanwhile must not touch PM2.
    if (!this.mayAct()) return;
    const mine: ProcessRef[] = [];
    const deletes: ProcessRef[] = [];
    for (const [service, svc] of Object.entries(head.services)) {
      for (const p of svc.processes) {
        const ref = { service, id: p.id, host: p.host };
        const inPm2 = observed.get(p.host)?.has(p.id) === true;
        if (p.state === 'stopping' && p.owner?.id === this.deps.self.id) mine.push(ref);
        else if ((p.state === 'failed' || p.state === 'retired') && inPm2) deletes.push(ref);
      }
    }
    const stopped: ProcessRef[] = [];
    await Promise.all([
      ...mine.map(async (ref) => (await this.remove(ref)) && stopped.push(ref)),
      ...deletes.map(async (ref) => {
        if (await this.remove(ref)) this.deps.log(`deleted ${ref.id} from PM2 on ${ref.host}: the policy says it ${stateOf(head, ref.service, ref.id)}`);
      }),
    ]);
    for (const [service, refs] of byService(stopped)) {
      await this.commit(`record ${service}'s stopped processes retired`, (h) => {
        const ids = refs.filter((r) => stateOf(h, service, r.id) === 'stopping').map((r) => r.id);
        return ids.length === 0 ? h : retire(h, service, ids, now);
      }, this.deps.fence?.() === undefined ? {} : { fence: this.deps.fence!()! }, (written) => this.retired(written, service, refs));
    }
  }

  private async remove(ref: ProcessRef): Promise<boolean> {
    try {
      const fleet = await this.deps.fleet(ref.host);
      if (fleet === undefined || !this.mayAct()) return false;
      await fleet.remove(ref.id);
      this.reported.delete(`remove:${ref.id}`);
      return true;
    } catch (error) {
      this.once(`remove:${ref.id}`, `could not stop ${ref.id} on ${ref.host}: ${(error as Error).message}; will try again`);
      return false;
    }
  }

  private retired(written: Policy, service: string, refs: ProcessRef[]): void {
    for (const r of refs) {
      const p = written.services[service]?.processes.find((e) => e.id === r.id);
      if (p?.state !== 'retired') continue;
      this.deps.tallies.forget(p.id);
      this.deps.metrics?.retired(service, p.reason ?? 'drained');
      const cut = p.terminalsCutOff ?? 0;
      if (cut > 0) this.deps.metrics?.cutOff(service, p.version, cut);
      this.deps.log(`${p.id} retired (${p.reason ?? 'stopped'}${cut > 0 ? `, cutting off ${cut} terminal${cut === 1 ? '' : 's'}` : ''}; generation ${written.generation})`);
    }
  }

  private async commit(what: string, fn: (head: Policy) => Policy, opts: { fence?: number }, onWritten?: (written: Policy) => void): Promise<void> {
    try {
      const { policy, wrote } = await commitIfChanged(this.deps.store, fn, opts);
      if (wrote) onWritten?.(policy);
    } catch (error) {
      this.deps.log(`could not ${what}: ${(error as Error).message}; will try again`);
    }
  }

  private reportMissing(missing: readonly MissingProcess[]): void {
    for (const m of missing) {
      const alarm = m.takesLogins ? 'ALARM: ' : '';
      this.once(`missing:${m.id}:${m.pm2}`, `${alarm}${m.id} on ${m.host} is ${m.pm2 === 'missing' ? 'missing in PM2' : `${m.pm2} in PM2`}; it is not routed to while another process of ${m.version} is live${m.takesLogins ? ': deploy the version again to replace it' : ''}`);
    }
  }

  private once(key: string, line: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    if (this.reported.size > 10_000) this.reported.clear();
    this.deps.log(line);
  }
}

function stateOf(policy: Policy, service: string, id: string): string | undefined {
  return policy.services[service]?.processes.find((p) => p.id === id)?.state;
}

/** The stop claims that still hold on `head`: still draining since the same time, version not taking logins. */
function claimStill(head: Policy, service: string, decisions: readonly StopDecision[], now: Date, reason: StopDecision['reason'], self: Owner): Policy {
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
