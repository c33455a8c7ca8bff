import type { Redis } from 'ioredis';
import { newRedis, redisOptions } from '../store/redis-client.js';

/**
 * The router's own connection for coordination (heartbeat records, the
 * lease, the router registry). It reconnects in the background, at most a
 * second apart, and queues nothing while Redis is away: a command then
 * fails at once and the loop that sent it tries again on its next round.
 * Every command has a short deadline, so a hung Redis never holds a lease
 * renewal past its lease.
 */
export interface RedisLink {
  redis: Redis;
  /** The last connection error, redacted; undefined while connected. */
  lastError(): string | undefined;
  close(): void;
}

export async function openRedisLink(url: string, timeoutMs: number): Promise<RedisLink> {
  let lastError: string | undefined;
  const redis = await newRedis({ ...redisOptions(url, { reconnect: true, timeoutMs }), enableOfflineQueue: false }, (message) => {
    lastError = message;
  });
  redis.on('ready', () => {
    lastError = undefined;
  });
  // The first connect may fail: the background reconnects carry on, and the loops report the outage.
  await redis.connect().catch(() => undefined);
  return {
    redis,
    lastError: () => (redis.status === 'ready' ? undefined : (lastError ?? `not connected (${redis.status})`)),
    close: () => redis.disconnect(),
  };
}
