import type { Redis } from 'ioredis';
import { LEASE_SCRIPT, RELEASE_SCRIPT, type RedisKeys } from './keys.js';

/**
 * The drain leader's lease: at most one router runs the reconcile loop. A
 * router takes the lease with SET NX PX when it is free, and each new lease
 * gets a fencing token from INCR; the holder renews it every third of the
 * lease. The holder counts itself leader only until its last successful
 * renewal, timed from when the renewal was sent, plus `validShare` of the
 * lease, so it stops acting before any other router can take over. Every
 * commit the leader makes carries the token, and the commit script refuses
 * a token older than the newest: a leader paused past its lease changes
 * nothing when it wakes.
 */

export interface LeaseHolder {
  routerId: string;
  ownerId: string;
  fence: number;
}

export interface LeaderLeaseOptions {
  redis: Redis;
  keys: RedisKeys;
  routerId: string;
  /** The reconcile loop's claim owner id: claims by a router that lost the lease are taken over at once. */
  ownerId: string;
  leaseMs: number;
  /** Monotonic milliseconds. */
  now: () => number;
  log: (line: string) => void;
  /** Told when this router becomes or stops being the leader. */
  onChange: (leader: boolean) => void;
}

/** Of the lease, how long after a renewal was sent the holder still acts: the rest is margin for clock drift and slow replies. */
const VALID_SHARE = 0.8;

export function parseHolder(value: string | null | undefined): LeaseHolder | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = value.split('|');
  if (parts.length !== 3 || !/^\d+$/.test(parts[2]!)) return undefined;
  return { routerId: parts[0]!, ownerId: parts[1]!, fence: Number(parts[2]) };
}

export class LeaderLease {
  private timer: NodeJS.Timeout | undefined;
  /** Fires when the last renewal runs out, so the change is told even before the next attempt. */
  private expiry: NodeJS.Timeout | undefined;
  private token: number | undefined;
  private validUntil = -Infinity;
  private leading = false;
  private lastHolder: LeaseHolder | undefined;
  private attempting: Promise<void> | undefined;
  private stopped = false;
  /** How many times this router took a new lease. */
  taken = 0;

  constructor(private readonly o: LeaderLeaseOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.attempt(), Math.max(50, Math.floor(this.o.leaseMs / 3)));
    this.timer.unref();
    void this.attempt();
  }

  /** True while this router holds a lease it renewed recently enough to act on. */
  isLeader(): boolean {
    return this.leading && this.o.now() < this.validUntil;
  }

  /** The fencing token of this router's lease (also after it lapsed: Redis refuses it then). */
  fence(): number | undefined {
    return this.token;
  }

  /** The holder last seen in Redis (this router when it leads). */
  holder(): LeaseHolder | undefined {
    return this.lastHolder;
  }

  attempt(): Promise<void> {
    this.attempting ??= this.attemptOnce().finally(() => {
      this.attempting = undefined;
    });
    return this.attempting;
  }

  private async attemptOnce(): Promise<void> {
    if (this.stopped) return;
    const sentAt = this.o.now();
    try {
      const [held, value] = (await this.o.redis.eval(LEASE_SCRIPT, 2, this.o.keys.lease, this.o.keys.fence, `${this.o.routerId}|${this.o.ownerId}`, String(this.o.leaseMs))) as [number, number | string];
      if (this.stopped) return;
      if (held === 1) {
        const fence = Number(value);
        if (fence !== this.token) {
          this.taken += 1;
          this.o.log(`drain leader: this router (${this.o.routerId}) took the lease, fencing token ${fence}`);
        }
        this.token = fence;
        this.validUntil = sentAt + VALID_SHARE * this.o.leaseMs;
        if (this.expiry !== undefined) clearTimeout(this.expiry);
        this.expiry = setTimeout(() => this.set(this.isLeader()), Math.max(1, this.validUntil - this.o.now() + 1));
        this.expiry.unref();
        this.lastHolder = { routerId: this.o.routerId, ownerId: this.o.ownerId, fence };
        this.set(true);
      } else {
        this.lastHolder = parseHolder(String(value));
        this.set(false);
      }
    } catch (error) {
      // Redis away or slow: still leader only until the last renewal runs out.
      if (this.leading && !this.isLeader()) this.o.log(`drain leader: could not renew the lease (${(error as Error).message}); no longer acting as leader`);
      this.set(this.isLeader());
    }
  }

  private set(leader: boolean): void {
    if (leader === this.leading) return;
    this.leading = leader;
    if (!leader) this.o.log(`drain leader: this router (${this.o.routerId}) is not the leader${this.lastHolder ? ` (${this.lastHolder.routerId} is, token ${this.lastHolder.fence})` : ''}`);
    this.o.onChange(leader);
  }

  /** Stops renewing and gives the lease up, so another router takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.expiry !== undefined) clearTimeout(this.expiry);
    await this.attempting?.catch(() => undefined);
    if (this.leading) {
      this.leading = false;
      this.o.onChange(false);
      await this.o.redis.eval(RELEASE_SCRIPT, 1, this.o.keys.lease, `${this.o.routerId}|${this.o.ownerId}|`).catch(() => undefined);
    }
  }
}
