import type { Config } from '../config/schema.js';
import { coordinationKeys } from '../coordination/keys.js';
import { LeaderLease } from '../coordination/leader-lease.js';
import { openRedisLink } from '../coordination/redis-link.js';
import { RouterRegistry } from '../coordination/router-registry.js';
import { SharedTally } from '../coordination/shared-tally.js';
import { followerLeadership, leasedLeadership, soleLeadership, type Leadership } from '../control/leadership.js';
import { ownerOf } from '../control/owner.js';
import { redactUrl } from '../config/redis-url.js';
import type { Router } from './router.js';
import { monotonicMs } from './router-state.js';

/** Each coordination command must answer within this: well inside a lease. */
const COMMAND_TIMEOUT_MS = 1000;

export interface Coordination {
  leadership: Leadership;
  tally: SharedTally | undefined;
  lease: LeaderLease | undefined;
  stop(): Promise<void>;
}

/**
 * Joins a started router to the others sharing its state through Redis:
 * heartbeats are shared (one fleet-wide tally), the router registers
 * itself for /v1/status, and it competes for the drain leader's lease.
 * Without coordination in the config, the router on the config's own
 * address leads, and one more (`--listen`, `primary` false) only serves:
 * two drain controllers must never judge one fleet from two tallies.
 */
export async function attachCoordination(router: Router, config: Config, log: (line: string) => void, primary = true): Promise<Coordination> {
  const self = ownerOf('router', new Date(), 0);
  const coordination = config.coordination;
  if (coordination === undefined) {
    if (primary) return { leadership: soleLeadership(self), tally: undefined, lease: undefined, stop: async () => undefined };
    router.state.metrics.leader.set(0);
    router.routersStatus = async () => [{ id: router.id, url: router.url, leader: false, ageMs: 0 }];
    log(`no coordination.redis: this router answers logins, resolves and heartbeats, but it does not drain (the router on router.listen does), and its tally holds only the heartbeats sent to it; set coordination.redis to share one tally and one drain leader`);
    return { leadership: followerLeadership(self), tally: undefined, lease: undefined, stop: async () => undefined };
  }

  const r = config.router;
  const keys = coordinationKeys(coordination.prefix);
  const link = await openRedisLink(coordination.redis, COMMAND_TIMEOUT_MS);
  const routerId = router.id;
  const windowMs = r.staleAfter * r.heartbeatIntervalMs;
  const tally = new SharedTally({
    redis: link.redis,
    keys,
    routerId,
    tallies: router.state.tallies,
    windowMs,
    // Written and read several times an interval, so every router's tally is fleet-wide within one interval.
    flushMs: Math.max(20, Math.min(100, Math.floor(r.heartbeatIntervalMs / 5))),
    readMs: Math.max(50, Math.floor(r.heartbeatIntervalMs / 4)),
    now: monotonicMs,
    lastError: link.lastError,
  });
  router.state.onAccepted = (hb, nowMs) => tally.note(hb, nowMs);
  // A few heartbeat intervals: a dead leader is replaced that soon, and a renewal every third of it survives a slow reply.
  const leaseMs = Math.max(1500, 3 * r.heartbeatIntervalMs);
  router.state.metrics.leader.set(0);
  const lease = new LeaderLease({
    redis: link.redis,
    keys,
    routerId,
    ownerId: self.id,
    leaseMs,
    now: monotonicMs,
    log,
    onChange: (leader) => router.state.metrics.leader.set(leader ? 1 : 0),
  });
  const registry = new RouterRegistry({ redis: link.redis, keys, self: { id: routerId, url: router.url }, ttlMs: Math.max(3000, 3 * r.heartbeatIntervalMs), renewMs: Math.max(500, r.heartbeatIntervalMs) });
  const shownUrl = redactUrl(coordination.redis);
  router.routersStatus = () => registry.list();
  router.coordinationStatus = () => ({ redis: shownUrl, ...tally.state() });
  tally.start();
  registry.start();
  lease.start();
  log(`coordination: router ${routerId} joined the routers on Redis at ${shownUrl} (lease ${leaseMs} ms)`);
  return {
    leadership: leasedLeadership(self, lease),
    tally,
    lease,
    async stop() {
      await lease.stop();
      await tally.stop().catch(() => undefined);
      await registry.stop();
      link.close();
    },
  };
}
