import type { SharedTallyState } from '../protocol/status-body.js';
import type { Redis } from 'ioredis';
import type { Heartbeat } from '../core/heartbeat.js';
import type { TallyBook } from '../core/tally.js';
import { READ_WITH_TTL_SCRIPT, type RedisKeys } from './keys.js';

/**
 * One fleet-wide tally over several routers. Each router writes the newest
 * heartbeat it accepted for a process to Redis (coalesced per process and
 * pipelined every `flushMs`), with an expiry of what is left of the stale
 * window; each router reads the records of the processes its policy names
 * every `readMs` and feeds the ones written by other routers into its own
 * tally book, with the age Redis's expiry tells. The book's own rules apply
 * unchanged: a seq already counted is ignored, stale is never zero, and
 * ids the policy does not name are never read, so records of unknown
 * processes are neither written (only accepted heartbeats are) nor counted.
 *
 * While Redis is away, accepted heartbeats stay buffered (newest per
 * process, so the buffer never outgrows the fleet) and are written when it
 * is back, minus those whose window has passed; the tally keeps counting
 * what this router hears itself, and `dataAgeMs` says how old the rest is.
 */

interface Record {
  /** service, version, seq, terminals, router id, wall time accepted (ms; diagnostic and unique). */
  s: string;
  v: string;
  q: number;
  t: { [version: string]: number };
  r: string;
  a: number;
}

export interface SharedTallyOptions {
  redis: Redis;
  keys: RedisKeys;
  routerId: string;
  tallies: TallyBook;
  /** staleAfter × heartbeat interval: a record lives at most this long. */
  windowMs: number;
  flushMs: number;
  readMs: number;
  /** Monotonic milliseconds, the tally book's clock. */
  now: () => number;
  lastError: () => string | undefined;
}

/** Records read per script call: bounded so one call never holds Redis long. */
const READ_CHUNK = 500;

export type { SharedTallyState } from '../protocol/status-body.js';

export class SharedTally {
  private buffer = new Map<string, { hb: Heartbeat; at: number; wall: number }>();
  /** The last record ingested per process, as its raw text: an unchanged record is skipped. */
  private readonly seen = new Map<string, string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private readTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private reading: Promise<void> | undefined;
  private lastRead: number | undefined;
  private error: string | undefined;
  private droppedCount = 0;
  /** Counters for the benchmark and metrics: records written, records read from other routers. */
  written = 0;
  ingested = 0;

  constructor(private readonly o: SharedTallyOptions) {}

  start(): void {
    this.flushTimer = setInterval(() => void this.flush(), this.o.flushMs);
    this.readTimer = setInterval(() => void this.read(), this.o.readMs);
    this.flushTimer.unref();
    this.readTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
    if (this.readTimer !== undefined) clearInterval(this.readTimer);
    await this.flush();
  }

  /** Called for every heartbeat the router's own book accepted. */
  note(hb: Heartbeat, nowMs: number): void {
    this.buffer.set(hb.process, { hb, at: nowMs, wall: Date.now() });
  }

  state(): SharedTallyState {
    const error = this.o.lastError() ?? this.error;
    return {
      ok: error === undefined,
      dataAgeMs: this.lastRead === undefined ? null : Math.round(this.o.now() - this.lastRead),
      buffered: this.buffer.size,
      dropped: this.droppedCount,
      error: error ?? null,
    };
  }

  /** Writes the buffered heartbeats in one pipeline; shared by overlapping calls. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Reads the records of every process the policy names; shared by overlapping calls. */
  read(): Promise<void> {
    this.reading ??= this.readOnce().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async flushOnce(): Promise<void> {
    if (this.buffer.size === 0) return;
    const batch = this.buffer;
    this.buffer = new Map();
    const now = this.o.now();
    const pipeline = this.o.redis.pipeline();
    let queued = 0;
    for (const [id, { hb, at, wall }] of batch) {
      const left = Math.floor(this.o.windowMs - (now - at));
      if (left <= 0) {
        this.droppedCount += 1;
        continue;
      }
      const record: Record = { s: hb.service, v: hb.version, q: hb.seq, t: hb.terminals, r: this.o.routerId, a: wall };
      pipeline.set(this.o.keys.heartbeat(id), JSON.stringify(record), 'PX', left);
      queued += 1;
    }
    if (queued === 0) return;
    try {
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (failed) throw failed;
      this.written += queued;
      this.error = undefined;
    } catch (error) {
      this.error = `could not write heartbeats to Redis: ${(error as Error).message}`;
      // Kept for the next round unless a newer heartbeat of the same process arrived meanwhile.
      for (const [id, entry] of batch) if (!this.buffer.has(id)) this.buffer.set(id, entry);
    }
  }

  private async readOnce(): Promise<void> {
    const ids = [...this.o.tallies.knownIds()];
    for (const id of this.seen.keys()) if (!this.o.tallies.knownIds().has(id)) this.seen.delete(id);
    try {
      for (let i = 0; i < ids.length; i += READ_CHUNK) {
        const chunk = ids.slice(i, i + READ_CHUNK);
        const reply = (await this.o.redis.eval(READ_WITH_TTL_SCRIPT, chunk.length, ...chunk.map((id) => this.o.keys.heartbeat(id)))) as Array<string | null | number>;
        const now = this.o.now();
        for (let k = 0; k < chunk.length; k += 1) this.ingest(chunk[k]!, reply[2 * k] as string | null, Number(reply[2 * k + 1]), now);
      }
      this.lastRead = this.o.now();
      this.error = undefined;
    } catch (error) {
      this.error = `could not read heartbeats from Redis: ${(error as Error).message}`;
    }
  }

  private ingest(id: string, raw: string | null, ttlLeft: number, now: number): void {
    if (raw === null || raw === undefined || ttlLeft <= 0 || this.seen.get(id) === raw) return;
    this.seen.set(id, raw);
    let record: Record;
    try {
      record = JSON.parse(raw) as Record;
    } catch {
      return;
    }
    if (record.r === this.o.routerId) return;
    const ageMs = Math.max(0, this.o.windowMs - ttlLeft);
    const outcome = this.o.tallies.ingest({ service: record.s, version: record.v, process: id, seq: record.q, terminals: record.t }, now - ageMs);
    if (outcome === 'accepted') this.ingested += 1;
  }
}
