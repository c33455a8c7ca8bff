import { createHash } from 'node:crypto';
import { seenKey, type HeartbeatFacts, type HostObservation } from '../core/plan-reconcile.js';
import type { Policy } from '../core/policy-schema.js';
import type { Owner } from '../core/policy-transitions.js';
import { regressionOf, type Regression } from '../core/regression.js';
import type { Clock } from '../ops/deps.js';
import { DrainBaselines } from './drain-baselines.js';

/** What the loop needs from heartbeats (the router's tally book). */
export interface TallySource {
  processView(id: string, nowMs: number): { stale: boolean; terminals: number };
  zeroStreak(id: string, nowMs?: number): number;
  forget(id: string): void;
}

export interface Snapshot {
  facts: Map<string, HeartbeatFacts>;
  seen: Map<string, number>;
  owners: Map<string, boolean | undefined>;
  nowMs: number;
  regression: Regression | undefined;
}

/** Generations whose content is remembered, to notice one rewritten under the same number. */
const REMEMBERED = 256;

/**
 * Everything the loop knows besides the head and PM2's list, taken once
 * per pass: the only place the loop's memory (drain baselines, when it
 * first saw each claim and drain, the generations it has read) meets the
 * planner, which gets plain data.
 */
export class Snapshotter {
  private readonly baselines = new DrainBaselines();
  /** Monotonic time each claim (owner, until) and drain (since) was first seen. */
  private readonly firstSeen = new Map<string, number>();
  private highest = -1;
  private readonly hashes = new Map<number, string>();
  private rewritten: Regression | undefined;

  constructor(private readonly tallies: TallySource, private readonly clock: Clock) {}

  take(policy: Policy, observed: ReadonlyMap<string, HostObservation>, ownerAlive: (owner: Owner) => boolean | undefined): Snapshot {
    const mono = this.clock.mono();
    const draining = this.baselines.track(policy);
    const facts = new Map<string, HeartbeatFacts>();
    const seen = new Map<string, number>();
    const owners = new Map<string, boolean | undefined>();
    const keys = new Set<string>();
    for (const svc of Object.values(policy.services)) {
      for (const p of svc.processes) {
        // And of one the policy is done with: terminals still on it (a head that went back) keep it from being deleted under them.
        if (p.state === 'draining' || p.state === 'active' || p.state === 'failed' || p.state === 'retired') {
          const view = this.tallies.processView(p.id, mono);
          const streak = p.state === 'draining' ? this.baselines.since(p.id, draining.get(p.id), this.tallies.zeroStreak(p.id, mono)) : 0;
          facts.set(p.id, { zeroStreak: streak, stale: view.stale, terminals: view.terminals });
        }
        if (p.state === 'draining' || p.state === 'starting' || p.state === 'stopping') {
          const key = seenKey(p);
          keys.add(key);
          if (!this.firstSeen.has(key)) this.firstSeen.set(key, mono);
          seen.set(key, mono - this.firstSeen.get(key)!);
        }
        if (p.owner !== undefined && !owners.has(p.owner.id)) owners.set(p.owner.id, ownerAlive(p.owner));
      }
    }
    for (const key of this.firstSeen.keys()) if (!keys.has(key)) this.firstSeen.delete(key);
    return { facts, seen, owners, nowMs: this.clock.now().getTime(), regression: this.regression(policy, observed) };
  }

  /** The head went back (below a generation read before, or below a running process's name), or was rewritten in place. */
  private regression(policy: Policy, observed: ReadonlyMap<string, HostObservation>): Regression | undefined {
    const names = [...observed.values()].flatMap((o) => (o === undefined ? [] : [...o.keys()]));
    const back = regressionOf(policy, [this.highest], names);
    const hash = createHash('sha256').update(JSON.stringify({ ...policy, updatedAt: undefined })).digest('hex');
    const known = this.hashes.get(policy.generation);
    if (known !== undefined && known !== hash) {
      this.rewritten = { head: policy.generation, highest: policy.generation, evidence: `generation ${policy.generation} now holds other content than when it was read before` };
    }
    this.hashes.set(policy.generation, hash);
    if (this.hashes.size > REMEMBERED) this.hashes.delete(Math.min(...this.hashes.keys()));
    if (this.rewritten !== undefined && (policy.acknowledged?.through ?? -1) >= this.rewritten.highest) this.rewritten = undefined;
    this.highest = Math.max(this.highest, policy.generation);
    return back ?? this.rewritten;
  }
}
