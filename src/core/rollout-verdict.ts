/**
 * The verdict on one analysis interval of the new version (DESIGN.md,
 * "Progressive rollouts"): pass, fail or inconclusive, with the figures it
 * was judged on and one sentence saying why. Pure: the controller gathers
 * the figures (the router's or HAProxy's response counts, heartbeat
 * counters, PM2 restarts, Prometheus checks) and passes them in.
 *
 * A failure shown by any source that could be read is a fail, even when
 * another source could not be read or there were too few requests to judge
 * the error rate: a canary that keeps restarting must be stopped, not
 * paused. An unreadable source, too few requests, or a limit on a figure
 * that was not measured never gives a pass: the verdict is inconclusive.
 */

export interface AnalysisSettings {
  /** How often an interval is judged. */
  intervalMs: number;
  /** Fails (since the last pass) that abort the rollout. */
  failureLimit: number;
  /** Inconclusive intervals (since the last pass) that pause it. */
  inconclusiveLimit: number;
  /** Fewer requests in an interval than this: too few to judge the error rate and latency. */
  minRequests: number;
  /** A fraction: 0.01 is 1 %. */
  maxErrorRate: number;
  /** undefined: latency is not judged. */
  maxLatencyP99Ms: number | undefined;
  maxRestarts: number;
}

/** A source that could not be read this interval, and why. */
export interface Unreachable {
  unreachable: string;
}

export interface Traffic {
  /** Responses and upstream failures in the interval. */
  requests: number;
  /** 5xx responses and upstream failures (connect errors, resets, timeouts). */
  errors: number;
  /** undefined: not measured by this source (heartbeat counters, HAProxy). */
  p99Ms?: number | undefined;
}

export interface CheckResult {
  /** The query as configured (placeholders not filled in), to name the check. */
  query: string;
  max: number;
  /** The value Prometheus answered, or why there is none. */
  value: number | Unreachable;
}

export interface IntervalFigures {
  traffic: Traffic | Unreachable;
  /** PM2 restarts of the version's processes in the interval. */
  restarts: number | Unreachable;
  checks: CheckResult[];
}

export type VerdictKind = 'pass' | 'fail' | 'inconclusive';

export interface Verdict {
  verdict: VerdictKind;
  reason: string;
  figures: IntervalFigures;
  /** errors / requests, when there were requests to divide by. */
  errorRate: number | undefined;
}

export function isUnreachable(value: unknown): value is Unreachable {
  return typeof value === 'object' && value !== null && typeof (value as Unreachable).unreachable === 'string';
}

const percent = (fraction: number): string => `${Number((fraction * 100).toFixed(2))}%`;

/** Judges one interval's figures against the analysis settings. */
export function judgeInterval(figures: IntervalFigures, a: AnalysisSettings): Verdict {
  const { traffic, restarts, checks } = figures;
  const errorRate = !isUnreachable(traffic) && traffic.requests > 0 ? traffic.errors / traffic.requests : undefined;
  const out = (verdict: VerdictKind, reason: string): Verdict => ({ verdict, reason, figures, errorRate });

  if (!isUnreachable(restarts) && restarts > a.maxRestarts) {
    return out('fail', `its processes restarted ${restarts} times in the interval, more than maxRestarts (${a.maxRestarts}).`);
  }
  const over = checks.find((c) => !isUnreachable(c.value) && !(c.value <= c.max));
  if (over !== undefined) {
    return out('fail', `the Prometheus check "${over.query}" gave ${String(over.value)}, above its max ${over.max}.`);
  }
  if (isUnreachable(traffic)) return out('inconclusive', `its request counts could not be read (${traffic.unreachable}).`);
  if (traffic.requests < a.minRequests) {
    return out('inconclusive', `it served ${traffic.requests} requests in the interval, fewer than minRequests (${a.minRequests}) needed to judge it.`);
  }
  if (errorRate! > a.maxErrorRate) {
    return out('fail', `${traffic.errors} of ${traffic.requests} requests failed (${percent(errorRate!)}), above maxErrorRate (${percent(a.maxErrorRate)}).`);
  }
  if (a.maxLatencyP99Ms !== undefined) {
    if (traffic.p99Ms === undefined) {
      return out('inconclusive', `maxLatencyP99 is set but this data plane does not measure latency (only the router's built-in proxy does).`);
    }
    if (traffic.p99Ms > a.maxLatencyP99Ms) {
      return out('fail', `its p99 latency was ${Math.round(traffic.p99Ms)} ms, above maxLatencyP99 (${a.maxLatencyP99Ms} ms).`);
    }
  }
  if (isUnreachable(restarts)) return out('inconclusive', `its PM2 restarts could not be read (${restarts.unreachable}).`);
  const unread = checks.find((c) => isUnreachable(c.value));
  if (unread !== undefined) {
    return out('inconclusive', `the Prometheus check "${unread.query}" gave no value (${(unread.value as Unreachable).unreachable}).`);
  }
  const latency = traffic.p99Ms === undefined ? '' : `, p99 ${Math.round(traffic.p99Ms)} ms`;
  return out('pass', `${traffic.errors} of ${traffic.requests} requests failed (${percent(errorRate!)})${latency}, ${restarts} restarts${checks.length > 0 ? `, ${checks.length} Prometheus checks within their max` : ''}.`);
}
