import { planDrain, type DrainDecision } from '../core/plan-drain.js';
import type { Policy } from '../core/policy-schema.js';
import { retire } from '../core/policy-transitions.js';
import type { TallyBook } from '../core/tally.js';
import type { Fleet } from '../fleet/fleet.js';
import type { Store } from '../store/store.js';
import type { RouterMetrics } from './metrics.js';

export interface DrainControllerDeps {
  store: Store;
  current(): Policy | undefined;
  tallies: TallyBook;
  metrics: RouterMetrics;
  /** The fleet of a host, or undefined while it cannot be reached. */
  fleet(host: string): Promise<Fleet | undefined>;
  graceFor(service: string): number;
  intervalMs: number;
  log(line: string): void;
  now?: () => number;
}

/**
 * Inside the router: every heartbeat interval, stops the draining processes
 * that planDrain picks through their host's fleet, then records them as
 * retired (compare-and-swap; the store re-reads and retries on conflict).
 * It only stops what its fleet can see: a process PM2 does not know, or one
 * on a host that cannot be reached (ssh fails), is left draining and
 * reported, never silently retired; it is tried again on every pass.
 */
export class DrainController {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly reported = new Set<string>();
  private readonly stoppedByUs = new Map<string, DrainDecision>();
  /** Per draining process: its drain start (`since`) and the tally's zero streak when this controller first saw it draining. */
  private readonly baselines = new Map<string, { since: string; streak: number }>();

  constructor(private readonly deps: DrainControllerDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
    this.timer.unref();
  }

  /** One pass; overlapping calls share the pass already running. */
  tick(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const policy = this.deps.current();
    if (policy === undefined) return;
    const nowMs = (this.deps.now ?? Date.now)();
    // Heartbeat ages are on the router's monotonic clock; deadlines and records stay on the wall clock.
    const tallyMs = this.deps.now?.() ?? performance.now();
    const draining = this.drainStarts(policy);
    const decisions = planDrain(
      policy,
      (id) => {
        const view = this.deps.tallies.processView(id, tallyMs);
        const streak = this.deps.tallies.zeroStreak(id, tallyMs);
        return { zeroStreak: this.streakSinceDrain(id, draining.get(id), streak), stale: view.stale, terminals: view.terminals };
      },
      this.deps.graceFor,
      nowMs,
    );
    // Processes stopped earlier whose retire write failed are retried even if planDrain no longer picks them.
    for (const [id, earlier] of this.stoppedByUs) {
      const still = policy.services[earlier.service]?.processes.some((p) => p.id === id && p.state === 'draining');
      if (!still) this.stoppedByUs.delete(id);
      else if (!decisions.some((d) => d.id === id)) decisions.push(earlier);
    }
    if (decisions.length === 0) return;
    const stopped: DrainDecision[] = [];
    await Promise.all(decisions.map(async (d) => (await this.stopProcess(d)) && stopped.push(d)));
    if (stopped.length === 0) return;
    const byService = new Map<string, DrainDecision[]>();
    for (const d of stopped) byService.set(d.service, [...(byService.get(d.service) ?? []), d]);
    for (const [service, list] of byService) {
      try {
        const written = await this.deps.store.update((p) => retire(p, service, list.map((d) => d.id), new Date(nowMs)));
        for (const d of list) this.stoppedByUs.delete(d.id);
        this.deps.log(`retired ${list.map((d) => d.id).join(', ')} (policy generation ${written.generation})`);
      } catch (error) {
        this.deps.log(`stopped ${list.map((d) => d.id).join(', ')} but could not record them as retired: ${(error as Error).message}; will try again`);
      }
    }
  }

  /** The `since` of every draining process; forgets the baselines of processes no longer draining. */
  private drainStarts(policy: Policy): Map<string, string> {
    const draining = new Map<string, string>();
    for (const svc of Object.values(policy.services)) {
      for (const p of svc.processes) if (p.state === 'draining') draining.set(p.id, p.since ?? '');
    }
    for (const id of this.baselines.keys()) if (!draining.has(id)) this.baselines.delete(id);
    return draining;
  }

  /**
   * Zero heartbeats counted only since this controller first saw the process
   * draining. The tally's streak also counts the zeros a process reported
   * while it was still active (an idle old target has a long one), which
   * would stop it at the first pass after the promote, before the heartbeat
   * that reports a terminal sent to it just before the promote arrives: that
   * terminal would be cut off. An undetected reset only makes the count
   * smaller, so the error is always on the side of waiting longer.
   */
  private streakSinceDrain(id: string, since: string | undefined, streak: number): number {
    if (since === undefined) return streak;
    const seen = this.baselines.get(id);
    if (seen === undefined || seen.since !== since) {
      this.baselines.set(id, { since, streak });
      return 0;
    }
    // The streak started over (terminals came back, or a stale gap) after the drain began.
    if (streak < seen.streak) seen.streak = 0;
    return streak - seen.streak;
  }

  private async stopProcess(d: DrainDecision): Promise<boolean> {
    // Stopped on an earlier pass whose retire write failed: only the write is left to do.
    if (this.stoppedByUs.has(d.id)) return true;
    let fleet: Fleet | undefined;
    try {
      fleet = await this.deps.fleet(d.host);
    } catch (error) {
      this.reportOnce(`${d.id}:fleet`, `cannot reach host ${d.host} to stop ${d.id}: ${(error as Error).message}; it stays draining`);
      return false;
    }
    if (fleet === undefined) {
      this.reportOnce(`${d.id}:nodaemon`, `no PM2 daemon for host ${d.host}: ${d.id} stays draining until one is reachable`);
      return false;
    }
    let listed;
    try {
      listed = await fleet.list();
    } catch (error) {
      // An unreachable host: what runs there is unknown, so it is never recorded as retired.
      this.reportOnce(`${d.id}:list`, `cannot list PM2's processes on host ${d.host} to stop ${d.id}: ${(error as Error).message}; it stays draining until the host answers`);
      return false;
    }
    if (!listed.some((p) => p.id === d.id)) {
      this.reportOnce(`${d.id}:unknown`, `${d.id} is not in PM2's list on ${d.host}: left draining; run \`switchyard drain ${d.version} --now\` to retire it`);
      return false;
    }
    try {
      await fleet.remove(d.id);
    } catch (error) {
      this.deps.log(`could not stop ${d.id}: ${(error as Error).message}; will try again`);
      return false;
    }
    this.stoppedByUs.set(d.id, d);
    for (const key of [...this.reported]) if (key.startsWith(`${d.id}:`)) this.reported.delete(key);
    this.deps.tallies.forget(d.id);
    this.deps.metrics.retired.inc({ service: d.service, reason: d.reason });
    if (d.reason === 'deadline') {
      this.deps.metrics.drainCutOff.inc({ service: d.service, version: d.version }, d.terminals);
      this.deps.log(`${d.id} stopped at its drain deadline, cutting off ${d.terminals} terminal${d.terminals === 1 ? '' : 's'}`);
    } else {
      this.deps.log(`${d.id} drained: zero terminals for ${this.deps.graceFor(d.service)} heartbeat intervals; stopped`);
    }
    return true;
  }

  private reportOnce(key: string, line: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.deps.log(line);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
