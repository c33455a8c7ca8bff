import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { deltaOfSources, trafficOf, type CountsSource, type TrafficSource, type VersionCounts } from '../core/request-window.js';
import { singleFlight } from '../core/single-flight.js';
import type { Traffic, Unreachable } from '../core/rollout-verdict.js';
import { READ_RECORDS_SCRIPT, type RedisKeys } from './keys.js';

/**
 * Request counts of every router, summed, so the leader judges a rollout
 * on fleet-wide figures (the shared tally is the model). Each router
 * writes its own growing counters per service and version under
 * `<prefix>:metrics:<router id>` every `flushMs`, with an expiry a few
 * writes long; the leader reads every live record when it takes an
 * interval and sums, per router, what grew since its last take.
 *
 * Each record carries the router's instance (new at every start), so a
 * restarted router is a new source counted whole and its old record adds
 * nothing; a router that stopped adds nothing once its record expires.
 * While Redis is away take() says so (the verdict is then inconclusive)
 * and the next take covers everything since the last one that worked.
 */

interface MetricsRecord {
  /** Router id and instance. */
  r: string;
  i: string;
  /** service → version → counts. */
  s: Record<string, Record<string, VersionCounts>>;
}

export interface SharedMetricsOptions {
  redis: Redis;
  keys: RedisKeys;
  routerId: string;
  /** This router's own counts (the router's RequestMetrics). */
  local: CountsSource;
  flushMs: number;
  /** How long a record outlives its last write: a few flushes. */
  ttlMs: number;
}

export class SharedMetrics implements TrafficSource {
  private readonly instance = randomBytes(6).toString('hex');
  /** Per "service\nversion": each source's reading at the last successful take. */
  private readonly taken = new Map<string, Map<string, VersionCounts>>();
  private timer: NodeJS.Timeout | undefined;
  private error: string | undefined;
  /** Writes this router's counts; shared by overlapping calls. Throws when Redis refused or is away. */
  readonly flush = singleFlight(() => this.flushOnce());

  constructor(private readonly o: SharedMetricsOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush().catch(() => undefined), this.o.flushMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
  }

  /** The last write's failure, if it failed. */
  lastError(): string | undefined {
    return this.error;
  }

  private async flushOnce(): Promise<void> {
    const record: MetricsRecord = { r: this.o.routerId, i: this.instance, s: {} };
    for (const { service, version, counts } of this.o.local.all()) (record.s[service] ??= {})[version] = counts;
    try {
      const results = await this.o.redis.multi()
        .set(this.o.keys.metrics(this.o.routerId), JSON.stringify(record), 'PX', this.o.ttlMs)
        .sadd(this.o.keys.metricsRouters, this.o.routerId)
        .exec();
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (failed) throw failed;
      this.error = undefined;
    } catch (error) {
      this.error = `could not write request counts to Redis: ${(error as Error).message}`;
      throw new Error(this.error);
    }
  }

  /** Every live router's counts for one version, by "<router id>/<instance>". */
  private async read(service: string, version: string): Promise<Map<string, VersionCounts>> {
    const reply = (await this.o.redis.eval(READ_RECORDS_SCRIPT, 1, this.o.keys.metricsRouters, this.o.keys.metrics(''))) as string[];
    const sources = new Map<string, VersionCounts>();
    for (let k = 1; k < reply.length; k += 2) {
      let record: MetricsRecord;
      try {
        record = JSON.parse(reply[k]!) as MetricsRecord;
      } catch {
        continue;
      }
      const counts = record.s?.[service]?.[version];
      if (counts !== undefined) sources.set(`${record.r}/${record.i}`, counts);
    }
    return sources;
  }

  /** The fleet's figures for one version since the last take (see TrafficSource). */
  async take(service: string, version: string): Promise<Traffic | Unreachable> {
    let now: Map<string, VersionCounts>;
    try {
      // This router's own counts are written first, so the leader's own traffic is as fresh as it can be.
      await this.flush();
      now = await this.read(service, version);
    } catch (error) {
      return { unreachable: `the routers' request counts could not be read from Redis (${(error as Error).message})` };
    }
    const key = `${service}\n${version}`;
    const before = this.taken.get(key) ?? new Map<string, VersionCounts>();
    this.taken.set(key, now);
    return trafficOf(deltaOfSources(now, before));
  }
}
