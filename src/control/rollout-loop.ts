import type { Config } from '../config/schema.js';
import { planRollouts, progressingRollouts, type PlannedMove } from '../core/plan-rollout.js';
import type { Owner } from '../core/policy-transitions.js';
import { singleFlight } from '../core/single-flight.js';
import type { AnalysisSettings, IntervalFigures } from '../core/rollout-verdict.js';
import type { Fleets } from '../fleet/fleets.js';
import { systemClock, type Clock, type Lease, type OpsEvent } from '../ops/deps.js';
import { commitRolloutMove, verdictFigures } from '../ops/rollout-move.js';
import type { Store } from '../store/store.js';
import { measure, type Baseline, type FigureSources } from './rollout-figures.js';

export interface RolloutLoopDeps {
  store: Store;
  fleets: Fleets;
  /** Each service's analysis settings and drain timeout. */
  config: Config;
  sources: FigureSources;
  self: Owner;
  /** With several routers: the drain leader's lease; only its holder measures and commits, fenced. */
  lease?: Lease;
  log(line: string): void;
  notify?(event: OpsEvent): void;
  clock?: Clock;
  /** How often it looks whether an interval is due; default 200 ms. */
  tickMs?: number;
}

/** Per service: the rollout measured, when its next interval ends (monotonic), and what the last measurement left. */
interface Watch {
  id: string;
  due: number;
  baseline: Baseline;
}

/**
 * The rollout controller (DESIGN.md, "Progressive rollouts"), run by the
 * drain leader. Every tick it reads the head; for each progressing
 * rollout whose `analysis.interval` has passed it measures one interval
 * of the new version (rollout-figures.ts), hands the head, the figures
 * and the time to the pure planner (core/plan-rollout.ts), and commits
 * exactly the moves it returns through the ops executor, each fenced and
 * checked against the head it lands on.
 *
 * Its only memory is when each rollout's next interval ends. Intervals
 * follow a schedule (each ends one interval after the last one's end, not
 * after the pass that measured it), and each is judged as of its end, so
 * a step's pause is held exactly, whatever the passes' jitter. A rollout
 * it has not measured yet (new, resumed, or this router just became the
 * leader) is measured once as a baseline and judged from the next
 * interval on: a new leader carries on from the committed state, on
 * fresh figures.
 */
export class RolloutLoop {
  private timer: NodeJS.Timeout | undefined;
  private readonly watches = new Map<string, Watch>();
  private readonly clock: Clock;
  private readonly said = new Set<string>();

  constructor(private readonly deps: RolloutLoopDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.tickMs ?? 200);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; overlapping calls share the pass already running. Never rejects; resolves with the moves planned (undefined: not the leader, or it failed). */
  readonly tick = singleFlight(() => this.pass().catch((error: unknown) => {
    this.once(`pass:${(error as Error).message}`, `rollout pass failed: ${(error as Error).message}; trying again`);
    return undefined;
  }));

  private mayAct(): boolean {
    return this.deps.lease?.mayAct() ?? true;
  }

  private async pass(): Promise<PlannedMove[] | undefined> {
    if (!this.mayAct()) {
      // Whoever leads next measures afresh; so does this router if it leads again.
      this.watches.clear();
      return undefined;
    }
    const policy = await this.deps.store.read();
    const analysis: Record<string, AnalysisSettings> = {};
    const figures = new Map<string, IntervalFigures>();
    const judgedAt = new Map<string, Date>();
    const progressing = progressingRollouts(policy);
    for (const service of this.watches.keys()) if (!progressing.some((p) => p.service === service)) this.watches.delete(service);
    for (const { service, rollout } of progressing) {
      const cfg = Object.hasOwn(this.deps.config.services, service) ? this.deps.config.services[service]! : undefined;
      if (cfg === undefined) {
        this.once(`unconfigured:${service}`, `the policy rolls out ${service}@${rollout.version}, but the config has no service ${service}: it is not judged by this router`);
        continue;
      }
      const intervalMs = cfg.rollout.analysis.intervalMs;
      analysis[service] = cfg.rollout.analysis;
      const known = this.watches.get(service);
      const watch = known?.id === rollout.id ? known : undefined;
      const mono = this.clock.mono();
      if (watch !== undefined && mono < watch.due) continue;
      const wall = this.clock.now().getTime();
      const taken = await measure(this.deps.sources, this.deps.fleets, policy, service, rollout.version, cfg.rollout.analysis.prometheus, watch?.baseline);
      // Next interval: one after this one's end; from now when the passes fell a whole interval behind.
      const due = watch === undefined || watch.due + intervalMs <= mono ? mono + intervalMs : watch.due + intervalMs;
      this.watches.set(service, { id: rollout.id, due, baseline: taken.baseline });
      if (watch === undefined) continue;
      figures.set(service, taken.figures);
      judgedAt.set(service, new Date(wall - (mono - watch.due)));
    }
    const moves = planRollouts({ policy, analysis, figures, judgedAt, now: this.clock.now() });
    for (const planned of moves) {
      if (!this.mayAct()) break;
      await this.run(planned);
    }
    return moves;
  }

  private async run(planned: PlannedMove): Promise<void> {
    const cfg = this.deps.config.services[planned.service];
    if (cfg === undefined) return;
    const { store, lease, notify, self } = this.deps;
    const deps = { store, clock: this.clock, by: { host: self.host ?? 'router', user: self.id }, ...(lease === undefined ? {} : { lease }), ...(notify === undefined ? {} : { notify }) };
    const what = `rollout of ${planned.service}@${planned.version}`;
    try {
      const { wrote, policy } = await commitRolloutMove(deps, planned, cfg.drain.timeoutMs);
      const figures = planned.verdict === undefined ? '' : ` ${JSON.stringify(verdictFigures(planned.verdict))}`;
      if (wrote) this.deps.log(`${what}: ${planned.move.kind} (generation ${policy.generation}): ${planned.reason}${figures}`);
      else this.deps.log(`${what}: ${planned.move.kind} dropped: the rollout moved on meanwhile (generation ${policy.generation}); next pass plans again`);
      // The move changed the state (paused, ended): the next progressing stretch is measured afresh.
      if (wrote && planned.move.kind !== 'verdict' && planned.move.kind !== 'advance') this.watches.delete(planned.service);
    } catch (error) {
      this.deps.log(`${what}: could not commit ${planned.move.kind} (${(error as Error).message}); the next interval is judged again`);
    }
  }

  private once(key: string, line: string): void {
    if (this.said.has(key)) return;
    if (this.said.size > 1000) this.said.clear();
    this.said.add(key);
    this.deps.log(line);
  }
}
