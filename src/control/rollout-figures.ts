import type { PrometheusConfig } from '../config/rollout-config.js';
import type { Policy } from '../core/policy-schema.js';
import type { TrafficSource } from '../core/request-window.js';
import type { CheckResult, IntervalFigures, Unreachable } from '../core/rollout-verdict.js';
import { restartsBetween, type RestartReading } from '../core/version-restarts.js';
import type { Fleets } from '../fleet/fleets.js';

/**
 * Where one interval's figures of a version come from (DESIGN.md,
 * "Progressive rollouts"): its traffic from the data plane's counts (the
 * router's proxy, heartbeat-reported counters in redirect mode, HAProxy's
 * servers, summed over every router through Redis), the PM2 restarts of
 * its processes, and the optional Prometheus checks. A source that cannot
 * be read says so (Unreachable), which makes the verdict inconclusive.
 */
export interface FigureSources {
  traffic: TrafficSource;
  /** Runs the configured checks; never throws (coordination/prometheus-checks.ts). */
  checks(prometheus: PrometheusConfig | undefined, service: string, version: string): Promise<CheckResult[]>;
}

/** Every PM2 process's restart count on the hosts of a version's live processes, or why a host could not be asked. */
export async function readRestarts(fleets: Fleets, policy: Policy, service: string, version: string): Promise<RestartReading[] | Unreachable> {
  const hosts = new Set((policy.services[service]?.processes ?? []).filter((p) => p.version === version && (p.state === 'active' || p.state === 'draining')).map((p) => p.host));
  const readings: RestartReading[] = [];
  for (const host of hosts) {
    try {
      const fleet = await fleets.get(host);
      if (fleet === undefined) return { unreachable: `no PM2 daemon runs for host ${host}` };
      for (const p of await fleet.list()) readings.push({ id: p.id, host, restarts: p.restarts });
    } catch (error) {
      return { unreachable: `PM2 on host ${host} could not be asked (${(error as Error).message})` };
    }
  }
  return readings;
}

/** What one measurement left behind for the next: the restart counts it read. */
export interface Baseline {
  restarts: RestartReading[] | undefined;
}

/**
 * One interval's figures of `version`, measured now: traffic since the
 * last take, restarts since `baseline`, the checks. Returns the new
 * baseline too. The first measurement of a rollout is only a baseline
 * (its traffic covers who knows how long), and is not judged.
 */
export async function measure(sources: FigureSources, fleets: Fleets, policy: Policy, service: string, version: string, prometheus: PrometheusConfig | undefined, baseline: Baseline | undefined): Promise<{ figures: IntervalFigures; baseline: Baseline }> {
  const [traffic, readings, checks] = await Promise.all([
    sources.traffic.take(service, version),
    readRestarts(fleets, policy, service, version),
    baseline === undefined ? Promise.resolve([]) : sources.checks(prometheus, service, version),
  ]);
  const read = Array.isArray(readings);
  const restarts = !read ? readings : restartsBetween(baseline?.restarts, readings, service, version);
  return { figures: { traffic, restarts, checks }, baseline: { restarts: read ? readings : baseline?.restarts } };
}
