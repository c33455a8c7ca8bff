import type { Config } from '../config/schema.js';
import { redisKeys } from '../coordination/keys.js';
import { LeaderLease } from '../coordination/leader-lease.js';
import { openRedisLink } from '../coordination/redis-client.js';
import { RouterRegistry } from '../coordination/router-registry.js';
import { SharedMetrics } from '../coordination/shared-metrics.js';
import { SharedTally } from '../coordination/shared-tally.js';
import { followerLeadership, leasedLeadership, soleLeadership, type Leadership } from '../control/leadership.js';
import type { Heartbeat } from '../core/heartbeat.js';
import type { CountsSource, TrafficSource } from '../core/request-window.js';
import type { TallyBook } from '../core/tally.js';
import { redactUrl } from '../config/redis-url.js';
import { newOwner } from '../ops/owner.js';
import type { CoordinationStatus, RouterEntry } from '../protocol/status-body.js';
import type { RouterMetrics } from '../router/metrics.js';

/** Each coordination command must answer within this: well inside a lease. */
const COMMAND_TIMEOUT_MS = 1000;

export interface Coordination {
  leadership: Leadership;
  /** Told of each heartbeat this router accepted (shared with the others). */
  onAccepted?(hb: Heartbeat, nowMs: number): void;
  /** The routers serving this state; undefined: this one alone, as the leader. */
  routers?(): Promise<RouterEntry[]>;
  status?(): CoordinationStatus;
  /** Every router's request counts, summed (the rollout verdicts' traffic); undefined: this router's own are the fleet's. */
  traffic?: TrafficSource;
  stop(): Promise<void>;
}

export interface CoordinationInput {
  config: Config;
  /** This router as others see it (after it bound its port). */
  self: { id: string; url: string };
  tallies: TallyBook;
  metrics: RouterMetrics;
  /** This router's request counts (its proxy's and heartbeats', or its HAProxy's), shared with the others. */
  counts: CountsSource;
  now(): number;
  log(line: string): void;
  /** Whether this router is on the config's own address (it leads when there is no Redis). */
  primary: boolean;
}

/**
 * Joins a started router to the others sharing its state through Redis:
 * heartbeats are shared (one fleet-wide tally), the router registers
 * itself for /v1/status, and it competes for the drain leader's lease.
 * Without coordination in the config, the router on the config's own
 * address leads, and one more (`--listen`, not primary) only serves: two
 * drain controllers must never judge one fleet from two tallies.
 */
export async function joinCoordination(input: CoordinationInput): Promise<Coordination> {
  const { config, self, metrics, log } = input;
  const owner = newOwner('router');
  const coordination = config.coordination;
  if (coordination === undefined) {
    if (input.primary) return { leadership: soleLeadership(owner), stop: async () => undefined };
    metrics.leader.set(0);
    log(`no coordination.redis: this router answers logins, resolves and heartbeats, but it does not drain (the router on router.listen does), and its tally holds only the heartbeats sent to it; set coordination.redis to share one tally and one drain leader`);
    return { leadership: followerLeadership(owner), routers: async () => [{ ...self, leader: false, ageMs: 0 }], stop: async () => undefined };
  }

  const r = config.router;
  const keys = redisKeys(coordination.prefix);
  const link = await openRedisLink(coordination.redis, COMMAND_TIMEOUT_MS);
  const tally = new SharedTally({
    redis: link.redis,
    keys,
    routerId: self.id,
    tallies: input.tallies,
    windowMs: r.staleAfter * r.heartbeatIntervalMs,
    // Written and read several times an interval, so every router's tally is fleet-wide within one interval.
    flushMs: Math.max(20, Math.min(100, Math.floor(r.heartbeatIntervalMs / 5))),
    readMs: Math.max(50, Math.floor(r.heartbeatIntervalMs / 4)),
    now: input.now,
    lastError: link.lastError,
  });
  // A few heartbeat intervals: a dead leader is replaced that soon, and a renewal every third of it survives a slow reply.
  const leaseMs = Math.max(1500, 3 * r.heartbeatIntervalMs);
  metrics.leader.set(0);
  const lease = new LeaderLease({
    redis: link.redis,
    keys,
    routerId: self.id,
    ownerId: owner.id,
    leaseMs,
    now: input.now,
    log,
    onChange: (leader) => metrics.leader.set(leader ? 1 : 0),
  });
  // Written often enough that the leader's take is at most a flush behind the other routers.
  const flushMs = Math.max(50, Math.min(250, Math.floor(r.heartbeatIntervalMs / 2)));
  const shared = new SharedMetrics({ redis: link.redis, keys, routerId: self.id, local: input.counts, flushMs, ttlMs: Math.max(3000, 10 * flushMs) });
  const registry = new RouterRegistry({ redis: link.redis, keys, self, ttlMs: Math.max(3000, 3 * r.heartbeatIntervalMs), renewMs: Math.max(500, r.heartbeatIntervalMs) });
  const shownUrl = redactUrl(coordination.redis);
  tally.start();
  shared.start();
  registry.start();
  lease.start();
  log(`coordination: router ${self.id} joined the routers on Redis at ${shownUrl} (lease ${leaseMs} ms)`);
  return {
    leadership: leasedLeadership(owner, lease),
    onAccepted: (hb, nowMs) => tally.note(hb, nowMs),
    routers: () => registry.list(),
    status: () => ({ redis: shownUrl, ...tally.state() }),
    traffic: shared,
    async stop() {
      await lease.stop();
      await tally.stop().catch(() => undefined);
      await shared.stop();
      await registry.stop();
      link.close();
    },
  };
}
