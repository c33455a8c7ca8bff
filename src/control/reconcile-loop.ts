import { planReconcile, type HostObservation, type MissingProcess, type ProcessRef, type ReconcilePlan } from '../core/plan-reconcile.js';
import type { Policy, ProcessEntry } from '../core/policy-schema.js';
import type { Owner } from '../core/policy-transitions.js';
import type { Regression } from '../core/regression.js';
import { singleFlight } from '../core/single-flight.js';
import type { Fleets } from '../fleet/fleets.js';
import type { Clock, Lease, OpsEvent } from '../ops/deps.js';
import { systemClock } from '../ops/deps.js';
import type { Store } from '../store/store.js';
import { LostReplacer, type ReplaceDeps } from './replace-lost.js';
import { runPlan, type PlanRunDeps } from './run-plan.js';
import { Snapshotter, type TallySource } from './snapshot.js';

export type { TallySource } from './snapshot.js';

export interface ReconcileMetrics {
  retired(service: string, reason: string): void;
  cutOff(service: string, version: string, terminals: number): void;
}

export interface ReconcileDeps {
  store: Store;
  fleets: Fleets;
  tallies: TallySource;
  /** Zero-terminal intervals each service's drain needs. */
  grace: Readonly<Record<string, number>>;
  intervalMs: number;
  self: Owner;
  /** How long a stop claim of this loop lasts without a renewal. */
  ownerLeaseMs?: number;
  ownerAlive(owner: Owner): boolean | undefined;
  log(line: string): void;
  metrics?: ReconcileMetrics;
  /** Told of every process it retired (the `retire` webhook event). */
  notify?(event: OpsEvent): void;
  /** Told after every pass which live processes PM2 lacks or reports down, and whether the head went back. */
  onObserved?(missing: readonly MissingProcess[], orphans: ReconcilePlan['orphans'], regression: Regression | undefined): void;
  /** Before a process past its drain deadline is stopped: its sessions are closed, paced (the router's proxy). */
  beforeDeadlineStop?(entry: ProcessEntry): Promise<void>;
  clock?: Clock;
  /** To start new incarnations in place of lost processes of the target or canary; without it they are only alarmed about. */
  replace?: ReplaceDeps;
  /**
   * With several routers: the drain leader's lease. Commits carry its
   * fence, and only its holder claims and acts; others only plan
   * (baselines, missing processes).
   */
  lease?: Lease;
}

/**
 * The level-triggered reconcile loop. Every interval it reads the head and
 * PM2's list, takes a snapshot of everything else it knows (heartbeats,
 * how long it has watched each claim and drain, which owners still run,
 * whether the head went back), hands that to the pure planner, and runs
 * exactly the plan it gets through the ops executor (run-plan.ts): claims
 * committed first, side effects only on what the head, read again, still
 * authorises, then the record. Any error is logged; the next pass tries again.
 */
export class ReconcileLoop {
  private timer: NodeJS.Timeout | undefined;
  private readonly snapshots: Snapshotter;
  private readonly reported = new Set<string>();
  private readonly clock: Clock;
  private readonly replacer: LostReplacer | undefined;

  constructor(private readonly deps: ReconcileDeps) {
    this.clock = deps.clock ?? systemClock;
    this.snapshots = new Snapshotter(deps.tallies, this.clock);
    this.replacer = deps.replace === undefined ? undefined : new LostReplacer(deps.replace, deps.intervalMs, deps.log);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  private current: Promise<unknown> | undefined;

  /** Resolves once the pass and the replacements under way have ended. */
  async idle(): Promise<void> {
    await this.current;
    await this.replacer?.idle();
  }

  /** One pass; overlapping calls share the pass already running. Never rejects. */
  readonly tick = singleFlight(() => {
    const pass = this.pass().catch((error: unknown) => {
      this.deps.log(`reconcile pass failed: ${(error as Error).message}; trying again next interval`);
      return undefined;
    });
    this.current = pass;
    return pass;
  });

  private mayAct(): boolean {
    return this.deps.lease?.mayAct() ?? true;
  }

  private async pass(): Promise<ReconcilePlan> {
    const policy = await this.deps.store.read();
    const observed = await this.observe(policy);
    // This loop is alive, but its start claims are worked on only while a replacement runs.
    const ownerAlive = (owner: Owner) => (owner.id === this.deps.self.id ? (this.replacer?.busy() ?? false) : this.deps.ownerAlive(owner));
    const snapshot = this.snapshots.take(policy, observed, ownerAlive);
    const plan = planReconcile({ policy, observed, grace: this.deps.grace, self: this.deps.self, ...snapshot });
    this.deps.onObserved?.(plan.missing, plan.orphans, snapshot.regression);
    this.reportMissing(plan.missing);
    if (plan.held !== undefined) this.once(`held:${plan.held.reason}`, `ALARM: ${plan.held.count} stop${plan.held.count === 1 ? '' : 's'} or delete${plan.held.count === 1 ? '' : 's'} held back: ${plan.held.reason}`);
    if (!this.mayAct()) return plan;
    const run = this.runDeps();
    await runPlan(run, plan);
    if (this.replacer !== undefined && this.deps.replace !== undefined) {
      this.replacer.run({ ...run, config: this.deps.replace.config, dir: this.deps.replace.dir, ownerAlive: this.deps.ownerAlive }, plan.replacements);
    }
    return plan;
  }

  private runDeps(): PlanRunDeps {
    const d = this.deps;
    return {
      store: d.store, fleets: d.fleets, clock: this.clock, owner: d.self, ...(d.lease === undefined ? {} : { lease: d.lease }),
      by: { host: d.self.host ?? 'router', user: d.self.id },
      ownerLeaseMs: d.ownerLeaseMs ?? 10 * 60_000,
      log: d.log,
      tallies: d.tallies,
      ...(d.metrics === undefined ? {} : { metrics: d.metrics }),
      ...(d.notify === undefined ? {} : { notify: d.notify }),
      ...(d.beforeDeadlineStop === undefined ? {} : { beforeDeadlineStop: d.beforeDeadlineStop }),
      once: (key, line) => this.once(key, line),
      clearOnce: (key) => this.reported.delete(key),
    };
  }

  private async observe(policy: Policy): Promise<Map<string, HostObservation>> {
    const hosts = new Set<string>();
    for (const svc of Object.values(policy.services)) for (const p of svc.processes) hosts.add(p.host);
    const observed = new Map<string, HostObservation>();
    await Promise.all(
      [...hosts].map(async (host) => {
        try {
          const fleet = await this.deps.fleets.get(host);
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

  private reportMissing(missing: readonly MissingProcess[]): void {
    for (const m of missing) {
      const alarm = m.takesLogins ? 'ALARM: ' : '';
      this.once(`missing:${m.id}:${m.pm2}`, `${alarm}${m.id} on ${m.host} is ${m.pm2 === 'missing' ? 'missing in PM2' : `${m.pm2} in PM2`}; it is not routed to while another process of ${m.version} is live${m.takesLogins ? (this.deps.replace === undefined ? ': deploy the version again to replace it' : '; a new incarnation replaces it once PM2 has given it up') : ''}`);
    }
  }

  private once(key: string, line: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    if (this.reported.size > 10_000) this.reported.clear();
    this.deps.log(line);
  }
}

export type { ProcessRef };
