/**
 * A process's request counters for progressive rollouts in redirect mode
 * (DESIGN.md, heartbeat `metrics`): the app keeps running totals, and each
 * heartbeat carries what they grew by since the last beat a router took.
 */
export interface RequestTotals {
  requests: number;
  errors: number;
}

/**
 * What the totals grew by since those a router took; totals that went
 * down (the app reset them) are sent whole. Anything but whole numbers
 * from 0 up, errors at most requests, is refused (the beat then goes
 * without counters).
 */
export function metricsSince(now: RequestTotals, taken: RequestTotals): RequestTotals {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!ok(now.requests) || !ok(now.errors) || now.errors > now.requests) {
    throw new Error(`switchyard heartbeat: metrics() must return whole numbers {requests, errors} with errors <= requests, got ${JSON.stringify(now)}.`);
  }
  if (now.requests < taken.requests || now.errors < taken.errors) return { requests: now.requests, errors: now.errors };
  return { requests: now.requests - taken.requests, errors: now.errors - taken.errors };
}
