import { Counter, type Metric, type Registry } from 'prom-client';
import {
  bucketIndex, codeIndex, CODE_CLASSES, copyCounts, emptyCounts, EXPORTED_BOUNDS_MS, IntervalReader, LATENCY_BOUNDS_MS, UPSTREAM_ERROR,
  type CountsSource, type TrafficSource, type VersionCounts,
} from '../core/request-window.js';
import type { Traffic } from '../core/rollout-verdict.js';

/** What the proxies tell of each answer (proxy-http.ts, proxy-ws.ts). */
export interface ResponseRecorder {
  response(service: string, version: string, status: number, ms: number): void;
  upstreamError(service: string, version: string, ms: number): void;
}

/**
 * The router's request counts per service and version: responses by
 * status class, upstream failures, latency in fine buckets, and the
 * counters processes report in heartbeats (redirect mode). The request
 * path only bumps numbers in a per-version record (two map lookups);
 * /metrics and the rollout controller read the records when they ask.
 *
 * Versions come from routed requests and accepted heartbeats, so they are
 * bounded by what the policy names; a retired version's counts stay, as a
 * Prometheus counter's series does.
 */
export class RequestMetrics implements ResponseRecorder, TrafficSource, CountsSource {
  private readonly services = new Map<string, Map<string, VersionCounts>>();
  private readonly reader = new IntervalReader(this);

  private counts(service: string, version: string): VersionCounts {
    let versions = this.services.get(service);
    if (versions === undefined) this.services.set(service, (versions = new Map()));
    let c = versions.get(version);
    if (c === undefined) versions.set(version, (c = emptyCounts()));
    return c;
  }

  response(service: string, version: string, status: number, ms: number): void {
    const c = this.counts(service, version);
    c.codes[codeIndex(status)]! += 1;
    c.buckets[bucketIndex(ms)]! += 1;
    c.sumMs += ms;
  }

  /** A connect error, reset or timeout: an error of the version, and its latency (what the terminal waited) counts too. */
  upstreamError(service: string, version: string, ms: number): void {
    const c = this.counts(service, version);
    c.codes[UPSTREAM_ERROR]! += 1;
    c.buckets[bucketIndex(ms)]! += 1;
    c.sumMs += ms;
  }

  /** Counters since its last beat from a process's accepted heartbeat. */
  reported(service: string, version: string, requests: number, errors: number): void {
    const c = this.counts(service, version);
    c.bareRequests += requests;
    c.bareErrors += errors;
  }

  /** Everything counted so far for a version (a copy), or undefined when nothing was. */
  read(service: string, version: string): VersionCounts | undefined {
    const c = this.services.get(service)?.get(version);
    return c === undefined ? undefined : copyCounts(c);
  }

  /** Every version's counts so far (live records: copy before keeping). */
  *all(): Iterable<{ service: string; version: string; counts: VersionCounts }> {
    for (const [service, versions] of this.services) for (const [version, counts] of versions) yield { service, version, counts };
  }

  /** The figures since the last take() of this version (see TrafficSource). */
  async take(service: string, version: string): Promise<Traffic> {
    return this.reader.take(service, version);
  }

  /** Adds switchyard_requests_total, switchyard_request_duration_seconds and the reported counters to `registry`. */
  register(registry: Registry): void {
    const all = () => this.all();
    const registers = [registry];
    new Counter({
      name: 'switchyard_requests_total',
      help: 'Proxied requests by service, version and code: the status class (2xx, 5xx, …) or upstream_error (the process could not be reached, reset, or timed out)',
      labelNames: ['service', 'version', 'code'],
      registers,
      collect() {
        this.reset();
        for (const { service, version, counts } of all()) {
          counts.codes.forEach((n, i) => n > 0 && this.inc({ service, version, code: CODE_CLASSES[i]! }, n));
        }
      },
    });
    new Counter({
      name: 'switchyard_reported_requests_total',
      help: 'Requests processes reported in their heartbeats (redirect mode), by service, version and outcome (ok, error)',
      labelNames: ['service', 'version', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const { service, version, counts } of all()) {
          if (counts.bareRequests === 0) continue;
          this.inc({ service, version, outcome: 'ok' }, counts.bareRequests - counts.bareErrors);
          this.inc({ service, version, outcome: 'error' }, counts.bareErrors);
        }
      },
    });
    registry.registerMetric(durationHistogram(all) as unknown as Metric);
  }
}

const DURATION = 'switchyard_request_duration_seconds';

/**
 * The latency histogram, cut at Prometheus's usual bounds from the fine
 * buckets the counts keep: prom-client's own Histogram would count every
 * request a second time. The object is what a registry asks a metric for.
 */
function durationHistogram(all: () => Iterable<{ service: string; version: string; counts: VersionCounts }>) {
  const exported = EXPORTED_BOUNDS_MS.map((bound) => LATENCY_BOUNDS_MS.indexOf(bound));
  const get = () => {
    const values: { metricName: string; labels: Record<string, string>; value: number }[] = [];
    for (const { service, version, counts } of all()) {
      const total = counts.buckets.reduce((a, b) => a + b, 0);
      if (total === 0) continue;
      let cumulative = 0;
      let next = 0;
      for (let i = 0; i < LATENCY_BOUNDS_MS.length; i += 1) {
        cumulative += counts.buckets[i]!;
        if (exported[next] !== i) continue;
        values.push({ metricName: `${DURATION}_bucket`, labels: { service, version, le: String(EXPORTED_BOUNDS_MS[next]! / 1000) }, value: cumulative });
        next += 1;
      }
      values.push({ metricName: `${DURATION}_bucket`, labels: { service, version, le: '+Inf' }, value: total });
      values.push({ metricName: `${DURATION}_sum`, labels: { service, version }, value: counts.sumMs / 1000 });
      values.push({ metricName: `${DURATION}_count`, labels: { service, version }, value: total });
    }
    return { name: DURATION, help: 'Latency of proxied requests (to the end of the answer, or to the failure), by service and version', type: 'histogram', aggregator: 'sum', values };
  };
  return { name: DURATION, help: '', type: 'histogram', aggregator: 'sum', get, reset: () => undefined };
}
