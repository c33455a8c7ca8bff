import { isIP } from 'node:net';
import type { Redis, RedisOptions } from 'ioredis';
import { failedError, isSwitchyardError } from '../core/errors.js';
import { parseRedisUrl, redactUrl } from '../config/redis-url.js';

/**
 * One Redis connection for commands that must answer or fail within a few
 * seconds: nothing queues while Redis is away (a write that was never sent
 * can never land later), every command has a deadline, and a lost
 * connection is opened again by the next command rather than by a
 * background retry loop, so a CLI run against a dead Redis ends instead of
 * retrying forever. The socket holds the event loop only while a command
 * runs, so a CLI command that never calls close() still exits. ioredis is
 * loaded on first use, so commands on the file store do not pay for it.
 */

export interface RedisClientOptions {
  /** Connecting and each command must finish within this (default 3 s). */
  timeoutMs?: number;
  /** Reconnect in the background instead of on the next command (subscribers). */
  reconnect?: boolean;
}

export const DEFAULT_REDIS_TIMEOUT_MS = 3000;

/** ioredis options for a URL that passed config validation. */
export function redisOptions(url: string, opts: RedisClientOptions = {}): RedisOptions {
  const parsed = parseRedisUrl(url);
  if (!parsed.ok) throw failedError('redis_url_invalid', `${redactUrl(url)} is not a Redis URL switchyard accepts: ${parsed.reason}.`);
  const t = parsed.target;
  const timeout = opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
  const common: RedisOptions = {
    db: t.db,
    ...(t.username === undefined ? {} : { username: t.username }),
    ...(t.password === undefined ? {} : { password: t.password }),
    // TLS checks the certificate against the host; SNI may carry only a name, not an IP address (RFC 6066).
    ...(t.tls ? { tls: isIP(t.endpoints[0]!.host) === 0 ? { servername: t.endpoints[0]!.host } : {} } : {}),
    lazyConnect: true,
    connectTimeout: timeout,
    commandTimeout: timeout,
    enableOfflineQueue: opts.reconnect === true,
    maxRetriesPerRequest: 0,
    // Background reconnects for subscribers, at most a second apart; none for command connections.
    retryStrategy: opts.reconnect === true ? (times: number) => Math.min(50 * times, 1000) : () => null,
  };
  if (t.kind === 'sentinel') {
    return { ...common, sentinels: t.endpoints, name: t.masterName!, ...(t.password === undefined ? {} : { sentinelPassword: t.password }), ...(t.username === undefined ? {} : { sentinelUsername: t.username }) };
  }
  return { ...common, host: t.endpoints[0]!.host, port: t.endpoints[0]!.port };
}

/** A new ioredis client (not connected yet) whose errors are kept, redacted, instead of printed. */
export async function newRedis(options: RedisOptions, onError: (message: string) => void): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(options);
  // Without a listener ioredis prints every connection error itself.
  client.on('error', (error: Error) => onError(redactUrl(error.message)));
  return client;
}

export class RedisClient {
  /** The URL with its password replaced, for every message. */
  readonly shownUrl: string;
  private readonly options: RedisOptions;
  private readonly timeoutMs: number;
  private made: Promise<Redis> | undefined;
  private client!: Redis;
  private busy = 0;
  private lastError: string | undefined;
  private connecting: Promise<void> | undefined;

  constructor(url: string, opts: RedisClientOptions = {}) {
    this.shownUrl = redactUrl(url);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    this.options = redisOptions(url, opts);
  }

  /**
   * Runs `fn` on a ready connection. `writing` says whether a failure after
   * the command was sent leaves the outcome unknown.
   */
  async run<T>(what: string, fn: (client: Redis) => Promise<T>, writing = false): Promise<T> {
    this.made ??= newRedis(this.options, (message) => {
      this.lastError = message;
    });
    this.client = await this.made;
    this.busy += 1;
    this.client.stream?.ref();
    try {
      try {
        await this.ready();
      } catch (error) {
        throw this.unavailable(what, error, writing ? ' Nothing was written.' : '');
      }
      try {
        return await fn(this.client);
      } catch (error) {
        if (isSwitchyardError(error)) throw error;
        // Redis answered with an error (an ACL refusal, say): not an outage, and nothing was written.
        if ((error as Error).name === 'ReplyError') {
          throw failedError('redis_refused', `Redis at ${this.shownUrl} refused ${what}: ${redactUrl((error as Error).message)}.${writing ? ' Nothing was written.' : ''}`, { url: this.shownUrl });
        }
        throw this.unavailable(what, error, writing ? ' The write may or may not have landed: `switchyard policy show` tells which generation is live.' : '');
      }
    } finally {
      this.busy -= 1;
      if (this.busy === 0) this.client.stream?.unref();
    }
  }

  private unavailable(what: string, error: unknown, outcome: string) {
    // ioredis's own "Connection is closed." says less than the socket error that closed it.
    const own = (error as Error).message;
    const reason = redactUrl((own === 'Connection is closed.' ? this.lastError : undefined) ?? (own || this.lastError || 'no answer'));
    return failedError(
      'redis_unavailable',
      `Redis at ${this.shownUrl} is unavailable for ${what} (${reason}; each step may take at most ${this.timeoutMs / 1000} s).${outcome} Check that Redis is running and that coordination.redis (or SWITCHYARD_REDIS_URL) points at it.`,
      { url: this.shownUrl },
    );
  }

  private ready(): Promise<void> {
    if (this.client.status === 'ready') return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const status = this.client.status;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(this.lastError ?? 'connect timed out')), this.timeoutMs);
    });
    const attempt = status === 'wait' || status === 'end' || status === 'close'
      ? this.client.connect()
      : new Promise<void>((resolve, reject) => {
        this.client.once('ready', resolve);
        this.client.once('end', () => reject(new Error(this.lastError ?? 'connection closed')));
      });
    try {
      await Promise.race([attempt, deadline]);
    } catch (error) {
      // A connection that never became ready is dropped, so the next command starts afresh.
      // (Not after 'end': disconnecting a closed stream leaves ioredis's 2 s destroy timer holding the process.)
      if (this.client.status !== 'ready' && this.client.status !== 'end') this.client.disconnect();
      attempt.catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.made === undefined) return;
    await this.made;
    if (this.client.status === 'ready') await this.client.quit().catch(() => undefined);
    if (this.client.status !== 'end') this.client.disconnect();
  }
}

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
