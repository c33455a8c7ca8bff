/**
 * One vocabulary for what PM2's status words mean to switchyard, shared by
 * the planners, the commands and status. PM2 reports `online`, `launching`,
 * `waiting restart` (a crash loop's backoff), `stopping`, `stopped`,
 * `errored`, or nothing at all (it does not list the name).
 */

/** How switchyard reads one PM2 status: serving, on its way (up or down), or gone for good. */
export type Pm2Health = 'serving' | 'transient' | 'gone' | 'absent';

/** PM2's status of a process, or undefined when PM2 does not list it. */
export function pm2Health(status: string | undefined): Pm2Health {
  if (status === undefined) return 'absent';
  if (status === 'online') return 'serving';
  if (status === 'errored' || status === 'stopped') return 'gone';
  return 'transient';
}

/** Answers traffic now: only `online`. Anything else is never routed to while another process of its version is live. */
export function isServing(status: string | undefined): boolean {
  return pm2Health(status) === 'serving';
}

/**
 * May still be running or about to (online, launching, a crash loop's
 * backoff): a command bringing a version back gives these the benefit of
 * the doubt, and never claims them lost.
 */
export function mayBeUp(status: string | undefined): boolean {
  const health = pm2Health(status);
  return health === 'serving' || (health === 'transient' && status !== 'stopping');
}

/** Gone for good (errored, stopped, or not listed): a draining one is claimed lost, its terminals already cut off. */
export function isGone(status: string | undefined): boolean {
  const health = pm2Health(status);
  return health === 'gone' || health === 'absent';
}
