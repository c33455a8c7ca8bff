import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Owner } from '../core/policy-transitions.js';

/**
 * Claim owners: who committed a `starting` or `stopping` claim, so that
 * others can tell a claim still being worked on from one whose owner died.
 */

/** This process as a claim owner (a command or a router): a fresh id, its pid and host. Each claim adds its lease. */
export function newOwner(kind: string): Owner {
  return { id: `${kind}-${randomBytes(4).toString('hex')}`, pid: process.pid, host: hostname() };
}

/** False when the owner ran on this host and its pid is gone; undefined when it cannot be told from here. */
export function ownerAlive(owner: Owner): boolean | undefined {
  if (owner.pid === undefined || owner.host !== hostname()) return undefined;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
