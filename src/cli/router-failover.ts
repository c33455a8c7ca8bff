/**
 * Failovers the CLI made between the routers router.url lists. Kept apart
 * from router-client.ts so the status printer (and the fast status path)
 * can report them without loading node:http.
 */

/** A router the CLI asked that did not answer, or answered 5xx, so the next one was asked. */
export interface RouterFailover {
  url: string;
  /** ECONNREFUSED, timeout, "answered 503", … */
  reason: string;
  /** The router asked next. */
  next: string;
}

/** One line per failover, for stderr. */
export function failoverMessages(failovers: readonly RouterFailover[]): string[] {
  return failovers.map((f) => `the router at ${f.url} failed (${f.reason}): failed over to ${f.next}`);
}
