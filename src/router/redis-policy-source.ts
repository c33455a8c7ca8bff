import type { Redis } from 'ioredis';
import { newRedis, redisOptions } from '../coordination/redis-client.js';
import { RedisStore } from '../store/redis-store.js';
import { PolicyHolder, type PolicySourceHooks } from './policy-source.js';

export interface RedisPolicySourceOptions extends PolicySourceHooks {
  url: string;
  prefix: string;
  /** The slow periodic check, in case a message and a reconnect were both missed. */
  pollMs: number;
  now?: () => Date;
}

/**
 * The router's view of the policy in Redis. It subscribes to the policy
 * channel and reads the head on every message; on every (re)connect it
 * subscribes first and then reads the head, so a generation published
 * while it was away is never missed; a periodic check is the safety net.
 * While Redis is away the last good policy keeps serving and fileState()
 * says why nothing newer is loaded. A head older than the one served (a
 * Redis restored from an old backup) is reported, never served.
 */
export class RedisPolicySource extends PolicyHolder {
  private readonly store: RedisStore;
  private subscriber: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastText: string | undefined;

  constructor(private readonly options: RedisPolicySourceOptions) {
    super(options);
    this.store = new RedisStore({ url: options.url, prefix: options.prefix });
  }

  async start(): Promise<void> {
    const channel = this.store.keys.channel;
    const sub = await newRedis({ ...redisOptions(this.options.url, { reconnect: true }), autoResubscribe: false }, () => undefined);
    this.subscriber = sub;
    sub.on('message', () => void this.check());
    // Subscribed before the head is read, so nothing published in between is lost.
    sub.on('ready', () => {
      sub.subscribe(channel).then(() => this.check(), () => undefined);
    });
    // Lost Redis: say so now rather than at the next periodic check.
    sub.on('close', () => {
      if (!this.stopped) void this.check();
    });
    await sub.connect().catch(() => undefined);
    await this.check();
    this.timer = setInterval(() => void this.check(), this.options.pollMs);
    this.timer.unref();
  }

  protected async readOnce(): Promise<void> {
    if (this.stopped) return;
    try {
      const generation = await this.store.headGeneration();
      if (generation === undefined) return this.fail(`no policy in Redis at ${this.store.location}: run \`switchyard init\``);
      // The head's text, not only its number: a store that went back, or was set up again, may hold other
      // content under a generation already served. The store's head is served either way (and alarmed on).
      const text = await this.store.revisionText(generation);
      if (generation === this.policy?.generation && text === this.lastText) return this.healthy();
      this.lastText = text;
      this.load(this.store.parseRevision(generation, text));
    } catch (error) {
      this.fail((error as Error).message);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.subscriber?.disconnect();
    void this.store.close();
  }
}
