import type { RouterFailover } from '../fleet/router-health.js';

/**
 * Failovers the CLI made between the routers router.url lists. Kept apart
 * from router-client.ts so the status printer (and the fast status path)
 * can report them without loading node:http (the import below is a type's,
 * gone at run time).
 */

export type { RouterFailover };

/** One line per failover, for stderr. */
export function failoverMessages(failovers: readonly RouterFailover[]): string[] {
  return failovers.map((f) => `the router at ${f.url} failed (${f.reason}): failed over to ${f.next}`);
}
