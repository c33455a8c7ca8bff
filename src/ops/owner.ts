import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Owner } from '../core/policy-transitions.js';

/**
 * Claim owners: who committed a `starting` or `stopping` claim, so that
 * others can tell a claim still being worked on from one whose owner died.
 */

/** An owner for this process: a command or a router, with a lease of `leaseMs`. */
export function ownerOf(kind: string, now: Date, leaseMs: number): Owner {
  return { id: `${kind}-${randomBytes(4).toString('hex')}`, pid: process.pid, host: hostname(), until: new Date(now.getTime() + leaseMs).toISOString() };
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
