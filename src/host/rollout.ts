import { hostname, userInfo } from 'node:os';
import type { Config } from '../config/schema.js';
import { runPrometheusChecks } from '../coordination/prometheus-checks.js';
import type { Leadership } from '../control/leadership.js';
import { RolloutLoop } from '../control/rollout-loop.js';
import type { TrafficSource } from '../core/request-window.js';
import type { Fleets } from '../fleet/fleets.js';
import type { OpsEvent } from '../ops/deps.js';
import { openNotifier, type Notifier } from '../ops/notifier.js';
import { changedBy } from '../protocol/events.js';
import { openStore } from '../store/open-store.js';

/** How long a stopping router waits for queued webhook events before it lets them go. */
export const STOP_FLUSH_MS = 2000;

export interface HostedRollouts {
  loop: RolloutLoop;
  stop(): Promise<void>;
}

/** The user this process runs as, or undefined where the system cannot say (a container without a passwd entry). */
function userName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * The router's webhook notifier: every rollout transition and every
 * retire it makes is posted to the config's `notify` hooks. A hook whose
 * secret cannot be read is logged and left out; the router serves anyway.
 */
export function hostNotifier(config: Config, log: (line: string) => void): Promise<Notifier | undefined> {
  return openNotifier(config.notify, process.env, changedBy(process.env, { user: userName(), host: hostname() }), (line) => log(`notify: ${line}`));
}

/**
 * The rollout controller in a router: measures each progressing
 * rollout's intervals from `traffic` (the data plane's counts, fleet-wide
 * with Redis), PM2 restarts and the Prometheus checks, and commits the
 * planner's moves. Only the drain leader measures and commits, fenced
 * under its lease, like the reconcile loop.
 */
export function hostRollouts(config: Config, input: { fleets: Fleets; leadership: Leadership; traffic: TrafficSource; notify?: (event: OpsEvent) => void; log(line: string): void }): HostedRollouts {
  const store = openStore(config);
  const { leadership } = input;
  const shortest = Math.min(...Object.values(config.services).map((s) => s.rollout.analysis.intervalMs), 1000);
  const loop = new RolloutLoop({
    store,
    fleets: input.fleets,
    config,
    sources: { traffic: input.traffic, checks: runPrometheusChecks },
    self: leadership.self,
    lease: { mayAct: leadership.mayAct, fence: leadership.fence },
    log: input.log,
    ...(input.notify === undefined ? {} : { notify: input.notify }),
    // A due interval is noticed within a fifth of the shortest one.
    tickMs: Math.max(20, Math.min(200, Math.floor(shortest / 5))),
  });
  loop.start();
  return {
    loop,
    async stop() {
      loop.stop();
      await store.close().catch(() => undefined);
    },
  };
}
