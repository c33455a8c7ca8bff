import type { Owner } from '../core/policy-transitions.js';
import { ownerAlive } from '../ops/owner.js';

/**
 * Who may run the reconcile loop's claims and actions. One router on its
 * own always may; with several routers only the holder of the drain
 * leader's lease may, and its commits carry the lease's fencing token.
 */
export interface Leadership {
  /** The claim owner the loop commits as. */
  self: Owner;
  mayAct(): boolean;
  fence(): number | undefined;
  /** Whether a claim's owner is still working on it (see control/owner.ts). */
  ownerAlive(owner: Owner): boolean | undefined;
}

/** A router that is alone: always the leader, no fencing token. */
export function soleLeadership(self: Owner): Leadership {
  return { self, mayAct: () => true, fence: () => undefined, ownerAlive };
}

/** A router that never leads: it serves, and its passes only watch (a second router without Redis). */
export function followerLeadership(self: Owner): Leadership {
  return { self, mayAct: () => false, fence: () => undefined, ownerAlive };
}

/**
 * Leadership under a lease. A router's claim is alive exactly while its
 * owner holds the lease: the claims of a router that lost it are taken over
 * at once by the new leader rather than after their `until`.
 */
export function leasedLeadership(self: Owner, lease: { isLeader(): boolean; fence(): number | undefined; holder(): { ownerId: string } | undefined }): Leadership {
  return {
    self,
    mayAct: () => lease.isLeader(),
    fence: () => lease.fence(),
    ownerAlive: (owner) => {
      if (!owner.id.startsWith('router-')) return ownerAlive(owner);
      const holder = lease.holder();
      if (holder === undefined) return undefined;
      return holder.ownerId === owner.id;
    },
  };
}
