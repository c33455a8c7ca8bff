import type { RouterEntry } from '../protocol/status-body.js';

export type { RouterEntry } from '../protocol/status-body.js';
import type { Redis } from 'ioredis';
import { LIST_ROUTERS_SCRIPT, type RedisKeys } from './keys.js';
import { parseHolder } from './leader-lease.js';

/** One router as /v1/status lists it. */

export interface RouterRegistryOptions {
  redis: Redis;
  keys: RedisKeys;
  self: { id: string; url: string };
  /** The record expires this long after the router last renewed it. */
  ttlMs: number;
  renewMs: number;
}

/**
 * Every router keeps a record of itself in Redis (renewed every
 * `renewMs`, expiring after `ttlMs`); any router lists the others with the
 * lease holder marked. Ages come from Redis's expiry, not from the routers'
 * clocks.
 */
export class RouterRegistry {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RouterRegistryOptions) {}

  start(): void {
    void this.renew();
    this.timer = setInterval(() => void this.renew(), this.o.renewMs);
    this.timer.unref();
  }

  async renew(): Promise<void> {
    const record = JSON.stringify({ id: this.o.self.id, url: this.o.self.url, ttlMs: this.o.ttlMs });
    await this.o.redis
      .multi()
      .set(this.o.keys.router(this.o.self.id), record, 'PX', this.o.ttlMs)
      .sadd(this.o.keys.routers, this.o.self.id)
      .exec()
      .catch(() => undefined);
  }

  async list(): Promise<RouterEntry[]> {
    const reply = (await this.o.redis.eval(LIST_ROUTERS_SCRIPT, 2, this.o.keys.routers, this.o.keys.lease, this.o.keys.router(''))) as Array<string | number | null>;
    const leader = parseHolder(reply[0] as string | null)?.routerId;
    const routers: RouterEntry[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) {
      try {
        const record = JSON.parse(String(reply[i])) as { id: string; url: string; ttlMs: number };
        routers.push({ id: record.id, url: record.url, leader: record.id === leader, ageMs: Math.max(0, record.ttlMs - Number(reply[i + 1])) });
      } catch {
        // A record someone edited by hand: not a router this one can describe.
      }
    }
    return routers.sort((a, b) => a.url.localeCompare(b.url));
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.o.redis
      .multi()
      .del(this.o.keys.router(this.o.self.id))
      .srem(this.o.keys.routers, this.o.self.id)
      .exec()
      .catch(() => undefined);
  }
}
