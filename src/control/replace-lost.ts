import type { Config } from '../config/schema.js';
import type { Replacement } from '../core/plan-reconcile.js';
import type { Policy } from '../core/policy-schema.js';
import { claimStop } from '../core/policy-transitions.js';
import { claimant } from '../ops/claims.js';
import type { OpsDeps } from '../ops/deps.js';
import { launch } from '../ops/launch.js';

/** What the loop needs to start processes itself: the project, and the state's secret for their keys. */
export interface ReplaceDeps {
  config: Config;
  /** The config file's folder: relative scripts are read from here. */
  dir: string;
  token: string;
  env: NodeJS.ProcessEnv;
}

/** Longest wait between two tries to replace the same lost processes (a release that keeps crashing). */
const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Replaces lost processes of the version logins go to: a new incarnation
 * on the same host, claimed, started and made ready by the one launch path
 * (ops/launch.ts), and the lost one's stop claimed in the record commit
 * (allowed then: its version has a live process again). Each replacement
 * runs on its own, so the pass is not held up by a readiness wait; one per
 * host and version at a time, and a failed one is tried again after a
 * growing pause.
 */
export class LostReplacer {
  private readonly running = new Map<string, Promise<void>>();
  private readonly backoff = new Map<string, { tries: number; nextAt: number }>();

  constructor(private readonly replace: ReplaceDeps, private readonly intervalMs: number, private readonly log: (line: string) => void) {}

  run(deps: OpsDeps, replacements: readonly Replacement[]): void {
    const now = deps.clock.mono();
    for (const r of replacements) {
      const key = `${r.service} ${r.version} ${r.host}`;
      const wait = this.backoff.get(key);
      if (this.running.has(key) || (wait !== undefined && now < wait.nextAt)) continue;
      const service = this.replace.config.services[r.service];
      if (service === undefined) continue;
      let done!: () => void;
      this.running.set(key, new Promise((resolve) => {
        done = resolve;
      }));
      this.log(`${r.lost.join(', ')} (${r.service}@${r.version}, which takes logins) is lost from PM2 on ${r.host}: starting a new incarnation in its place`);
      const finish = (policy: Policy): Policy => {
        const svc = policy.services[r.service];
        const still = r.lost.filter((id) => svc?.processes.some((p) => p.id === id && p.state === 'active'));
        if (still.length === 0) return policy;
        try {
          return claimStop(policy, r.service, still, { now: deps.clock.now(), reason: 'lost', owner: claimant(deps.owner, deps.clock.now(), 60_000) });
        } catch {
          // Not allowed on this head (it moved on): the replacement still serves; the loop looks again next pass.
          return policy;
        }
      };
      void launch({ ...deps, config: this.replace.config, dir: this.replace.dir }, {
        service, version: r.version, token: this.replace.token, env: this.replace.env, op: 'replace lost',
        leaseMs: service.readiness.timeoutMs * 2 + 60_000, hosts: [r.host], instancesPerHost: r.lost.length, finish,
      }).then((result) => {
        if (!result.ok) throw new Error(result.processes.map((p) => p.reason).filter(Boolean).join('; ') || 'it did not become ready');
        this.backoff.delete(key);
        this.log(`${result.claimed.join(', ')} replaced ${r.lost.join(', ')} on ${r.host} (generation ${result.policy?.generation ?? '?'})`);
      }).catch((error: unknown) => {
        const tries = (this.backoff.get(key)?.tries ?? 0) + 1;
        const pause = Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** tries);
        this.backoff.set(key, { tries, nextAt: deps.clock.mono() + pause });
        this.log(`could not replace ${r.lost.join(', ')} on ${r.host}: ${(error as Error).message}; trying again in ${Math.round(pause / 1000)} s`);
      }).finally(() => {
        this.running.delete(key);
        done();
      });
    }
  }

  /** Whether a replacement is under way (its start claims are being worked on). */
  busy(): boolean {
    return this.running.size > 0;
  }

  /** Resolves once every replacement under way has ended (for a clean stop, and for tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }
}
