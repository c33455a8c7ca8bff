import type { Traffic, Unreachable } from './rollout-verdict.js';

/**
 * Request counts of one version, as counters that only grow, and the
 * figures of an interval as the difference of two readings. Every source
 * of counts (the router's proxy, heartbeat-reported counters, each router's
 * record in Redis, each HAProxy server) keeps counters this way, so one
 * rule turns any of them into an interval: subtract the last reading, and
 * when a counter went down (a router or HAProxy restarted, a server was
 * re-added) take the new reading whole, since it counts from zero.
 */

/** Upper bounds of the latency buckets, in ms: fine enough that p99 lands within a bucket's width of the truth. */
export const LATENCY_BOUNDS_MS = [
  1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 600, 800,
  1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10_000, 15_000, 20_000, 30_000, 60_000,
] as const;

/** The buckets /metrics exports (Prometheus's usual ones, in ms); each is one of LATENCY_BOUNDS_MS. */
export const EXPORTED_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000] as const;

/** What a response is counted as: its status class, or a failure to get one from the process. */
export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'upstream_error'] as const;
export type CodeClass = (typeof CODE_CLASSES)[number];
export const UPSTREAM_ERROR = 5;

export interface VersionCounts {
  /** Responses per CODE_CLASSES index. */
  codes: number[];
  /** Latencies per LATENCY_BOUNDS_MS bucket; the last entry holds those above every bound. */
  buckets: number[];
  /** Sum of the latencies, ms. */
  sumMs: number;
  /**
   * Requests and errors counted without a status class or latency: what
   * processes report in heartbeats (redirect mode, where the router sees
   * no traffic) and HAProxy's per-server counters.
   */
  bareRequests: number;
  bareErrors: number;
}

export function emptyCounts(): VersionCounts {
  return { codes: new Array<number>(CODE_CLASSES.length).fill(0), buckets: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0), sumMs: 0, bareRequests: 0, bareErrors: 0 };
}

/** The CODE_CLASSES index of an HTTP status. */
export function codeIndex(status: number): number {
  const i = Math.floor(status / 100) - 1;
  return i < 0 ? 0 : i > 4 ? 4 : i;
}

/** The bucket a latency falls in (binary search: a handful of comparisons on the request path). */
export function bucketIndex(ms: number): number {
  let lo = 0;
  let hi: number = LATENCY_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ms <= LATENCY_BOUNDS_MS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Adds `b` into `a` (summing routers, servers or processes). */
export function addInto(a: VersionCounts, b: VersionCounts): VersionCounts {
  for (let i = 0; i < a.codes.length; i += 1) a.codes[i]! += b.codes[i] ?? 0;
  for (let i = 0; i < a.buckets.length; i += 1) a.buckets[i]! += b.buckets[i] ?? 0;
  a.sumMs += b.sumMs;
  a.bareRequests += b.bareRequests;
  a.bareErrors += b.bareErrors;
  return a;
}

export function copyCounts(c: VersionCounts): VersionCounts {
  return addInto(emptyCounts(), c);
}

function wentDown(now: VersionCounts, before: VersionCounts): boolean {
  if (now.bareRequests < before.bareRequests || now.bareErrors < before.bareErrors || now.sumMs < before.sumMs) return true;
  return now.codes.some((n, i) => n < (before.codes[i] ?? 0)) || now.buckets.some((n, i) => n < (before.buckets[i] ?? 0));
}

/** What was counted between two readings of one source; a source that counts afresh is taken whole. */
export function deltaCounts(now: VersionCounts, before: VersionCounts | undefined): VersionCounts {
  if (before === undefined || wentDown(now, before)) return copyCounts(now);
  const d = emptyCounts();
  for (let i = 0; i < d.codes.length; i += 1) d.codes[i] = (now.codes[i] ?? 0) - (before.codes[i] ?? 0);
  for (let i = 0; i < d.buckets.length; i += 1) d.buckets[i] = (now.buckets[i] ?? 0) - (before.buckets[i] ?? 0);
  d.sumMs = now.sumMs - before.sumMs;
  d.bareRequests = now.bareRequests - before.bareRequests;
  d.bareErrors = now.bareErrors - before.bareErrors;
  return d;
}

/**
 * The interval of several sources at once (routers, servers): each
 * source's difference, summed. A source gone since the last reading adds
 * nothing (what it counted before was in earlier intervals); a new one is
 * taken whole.
 */
export function deltaOfSources(now: ReadonlyMap<string, VersionCounts>, before: ReadonlyMap<string, VersionCounts>): VersionCounts {
  const sum = emptyCounts();
  for (const [source, counts] of now) addInto(sum, deltaCounts(counts, before.get(source)));
  return sum;
}

/**
 * The latency at quantile q (0..1) from bucket counts, interpolated
 * linearly inside its bucket as Prometheus's histogram_quantile does;
 * above the last bound it is the last bound. undefined without latencies.
 */
export function quantileMs(buckets: readonly number[], q: number): number | undefined {
  let total = 0;
  for (const n of buckets) total += n;
  if (total === 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i += 1) {
    const n = buckets[i]!;
    if (n > 0 && seen + n >= rank) {
      if (i >= LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const upper = LATENCY_BOUNDS_MS[i]!;
      return lower + ((upper - lower) * (rank - seen)) / n;
    }
    seen += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}

/** Counts to the figures a verdict judges: upstream failures and 5xx are errors; p99 only where latency was measured. */
export function trafficOf(c: VersionCounts): Traffic {
  let responses = 0;
  for (const n of c.codes) responses += n;
  const errors = c.codes[4]! + c.codes[UPSTREAM_ERROR]! + c.bareErrors;
  const p99Ms = quantileMs(c.buckets, 0.99);
  return { requests: responses + c.bareRequests, errors, ...(p99Ms === undefined ? {} : { p99Ms }) };
}

/**
 * Where the controller reads one version's traffic for an interval: the
 * figures since the last `take` of that version (the first covers
 * everything counted for it so far: a canary version is new, so that is
 * its traffic since it started), or why they could not be read.
 */
export interface TrafficSource {
  take(service: string, version: string): Promise<Traffic | Unreachable>;
}


/** Where counts are kept as they grow: every version's, as live records (copy before keeping). */
export interface CountsSource {
  all(): Iterable<{ service: string; version: string; counts: VersionCounts }>;
}

/** Intervals of one CountsSource: each take() of a version gives what grew since its last take. */
export class IntervalReader {
  private readonly taken = new Map<string, VersionCounts>();

  constructor(private readonly source: CountsSource) {}

  take(service: string, version: string): Traffic {
    let now = emptyCounts();
    for (const entry of this.source.all()) if (entry.service === service && entry.version === version) now = copyCounts(entry.counts);
    const key = `${service}\n${version}`;
    const before = this.taken.get(key);
    this.taken.set(key, now);
    return trafficOf(deltaCounts(now, before));
  }
}
