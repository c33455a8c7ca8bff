import { readFile } from 'node:fs/promises';
import type { NotifyTarget } from '../config/rollout-config.js';
import { usageError } from '../core/errors.js';
import { SIGNATURE_HEADER, webhookSignature, type EventType, type SwitchyardEvent } from '../protocol/events.js';

/**
 * Posts events to the `notify` webhooks, signed (protocol/events.ts), at
 * least once, from a background queue: enqueue() returns at once and never
 * waits on a receiver, so a slow or dead hook can neither block nor slow a
 * rollout. Each URL gets its events in order, one at a time; a failure is
 * retried with doubling backoff (capped) until `retryForMs` after the
 * event was queued, then given up. The queue is bounded: when full, the
 * oldest waiting delivery is dropped. Deliveries, failures, retries and
 * drops are counted for /metrics (switchyard_webhook_*).
 */

export interface WebhookTarget {
  url: string;
  secret: string;
  /** undefined: every event type. */
  events: readonly EventType[] | undefined;
}

export interface WebhookOptions {
  /** Deliveries waiting, over all URLs; past it the oldest waiting one is dropped. Default 1000. */
  maxQueue?: number;
  /** How long after an event was queued its delivery is still retried. Default 10 minutes. */
  retryForMs?: number;
  /** The first retry's wait; each next one doubles, up to maxBackoffMs. Defaults 1 s and 60 s. */
  firstRetryMs?: number;
  maxBackoffMs?: number;
  /** One POST must be answered within this. Default 5 s. */
  timeoutMs?: number;
  log?: (line: string) => void;
  now?: () => number;
}

export interface WebhookCounts {
  delivered: number;
  /** Given up: retried for retryForMs, or refused with a 4xx that retrying cannot change. */
  failed: number;
  retried: number;
  dropped: number;
  /** Waiting now (in flight included). */
  queued: number;
}

interface Delivery { event: SwitchyardEvent; body: string; queuedAt: number; attempts: number; nextAt: number }

interface Lane { target: WebhookTarget; waiting: Delivery[]; busy: boolean; timer: NodeJS.Timeout | undefined }

/** 408 and 429 say "later"; any other 4xx says the request itself is refused. */
const retryable = (status: number): boolean => status >= 500 || status === 408 || status === 429;

export class WebhookSender {
  private readonly lanes: Lane[];
  private readonly o: Required<WebhookOptions>;
  private readonly c: WebhookCounts = { delivered: 0, failed: 0, retried: 0, dropped: 0, queued: 0 };
  private readonly idle: (() => void)[] = [];
  private readonly inFlight = new Set<AbortController>();
  private stopped = false;

  constructor(targets: readonly WebhookTarget[], options: WebhookOptions = {}) {
    this.lanes = targets.map((target) => ({ target, waiting: [], busy: false, timer: undefined }));
    this.o = {
      maxQueue: 1000, retryForMs: 10 * 60_000, firstRetryMs: 1000, maxBackoffMs: 60_000, timeoutMs: 5000,
      log: () => undefined, now: Date.now, ...options,
    };
  }

  /** Queues the event for every URL that takes its type; returns at once. */
  enqueue(event: SwitchyardEvent): void {
    if (this.stopped) return;
    const body = JSON.stringify(event);
    const now = this.o.now();
    for (const lane of this.lanes) {
      if (lane.target.events !== undefined && !lane.target.events.includes(event.type)) continue;
      if (this.c.queued >= this.o.maxQueue) this.dropOldest();
      lane.waiting.push({ event, body, queuedAt: now, attempts: 0, nextAt: now });
      this.c.queued += 1;
      if (!lane.busy && lane.timer === undefined) setImmediate(() => void this.run(lane));
    }
  }

  counts(): WebhookCounts {
    return { ...this.c };
  }

  /** Waits until every queued event is delivered or given up, or `timeoutMs` passed; resolves with how many are left. */
  async flush(timeoutMs: number): Promise<number> {
    if (this.c.queued === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idle.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    return this.c.queued;
  }

  /** Stops sending: waiting deliveries are kept uncounted, posts in flight are aborted. */
  stop(): void {
    this.stopped = true;
    for (const lane of this.lanes) clearTimeout(lane.timer);
    for (const controller of this.inFlight) controller.abort();
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /** The oldest delivery not in flight, over every URL. */
  private dropOldest(): void {
    let oldest: { lane: Lane; index: number } | undefined;
    for (const lane of this.lanes) {
      const index = lane.busy ? 1 : 0;
      const d = lane.waiting[index];
      if (d !== undefined && (oldest === undefined || d.queuedAt < oldest.lane.waiting[oldest.index]!.queuedAt)) oldest = { lane, index };
    }
    if (oldest === undefined) return;
    const [d] = oldest.lane.waiting.splice(oldest.index, 1);
    this.c.queued -= 1;
    this.c.dropped += 1;
    this.o.log(`webhook ${oldest.lane.target.url}: dropped ${d!.event.type} ${d!.event.id} (the queue holds at most ${this.o.maxQueue} deliveries)`);
  }

  private async run(lane: Lane): Promise<void> {
    if (lane.busy || this.stopped) return;
    lane.busy = true;
    try {
      for (let d = lane.waiting[0]; d !== undefined && !this.stopped; d = lane.waiting[0]) {
        const wait = d.nextAt - this.o.now();
        if (wait > 0) {
          lane.timer = setTimeout(() => {
            lane.timer = undefined;
            void this.run(lane);
          }, wait);
          lane.timer.unref();
          return;
        }
        const outcome = await this.post(lane.target, d);
        if (this.stopped) return;
        if (outcome !== 'retry') {
          lane.waiting.shift();
          this.c.queued -= 1;
          this.c[outcome === 'delivered' ? 'delivered' : 'failed'] += 1;
          continue;
        }
        d.attempts += 1;
        const backoff = Math.min(this.o.firstRetryMs * 2 ** (d.attempts - 1), this.o.maxBackoffMs);
        d.nextAt = this.o.now() + backoff;
        if (d.nextAt - d.queuedAt > this.o.retryForMs) {
          lane.waiting.shift();
          this.c.queued -= 1;
          this.c.failed += 1;
          this.o.log(`webhook ${lane.target.url}: gave up ${d.event.type} ${d.event.id} after ${d.attempts} attempts over ${Math.round((this.o.now() - d.queuedAt) / 1000)} s`);
          continue;
        }
        this.c.retried += 1;
      }
    } finally {
      lane.busy = false;
      if (this.c.queued === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  private async post(target: WebhookTarget, d: Delivery): Promise<'delivered' | 'retry' | 'refused'> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(), this.o.timeoutMs);
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-switchyard-event': d.event.type, 'x-switchyard-delivery': d.event.id, [SIGNATURE_HEADER]: webhookSignature(target.secret, d.body) },
        body: d.body,
        signal: controller.signal,
      });
      await response.body?.cancel();
      if (response.ok) return 'delivered';
      if (retryable(response.status)) return 'retry';
      this.o.log(`webhook ${target.url}: refused ${d.event.type} ${d.event.id} with ${response.status}; check the receiver and its secret (not retried)`);
      return 'refused';
    } catch {
      return 'retry';
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }
}

/** The secrets of the config's hooks, read now; every hook whose secret cannot be had is named in one usage error. */
export async function webhookTargets(notify: readonly NotifyTarget[], env: Readonly<Record<string, string | undefined>>): Promise<WebhookTarget[]> {
  const problems: string[] = [];
  const targets = await Promise.all(notify.map(async (hook, i): Promise<WebhookTarget | undefined> => {
    let secret: string | undefined;
    if ('file' in hook.secret) {
      const file = hook.secret.file;
      secret = await readFile(file, 'utf8').then((text) => text.trim(), (error: NodeJS.ErrnoException) => {
        problems.push(`notify[${i}].secretFile: ${file} cannot be read (${error.code ?? error.message}): write the hook's secret there, or use secretEnv`);
        return undefined;
      });
      if (secret === '') problems.push(`notify[${i}].secretFile: ${file} is empty: write the hook's secret there`);
    } else {
      secret = env[hook.secret.env]?.trim();
      if (!secret) problems.push(`notify[${i}].secretEnv: ${hook.secret.env} is not set or empty: set it to the hook's secret`);
    }
    return secret ? { url: hook.url, secret, events: hook.events } : undefined;
  }));
  if (problems.length > 0) throw usageError('notify_secret', problems.join('\n'), { problems });
  return targets as WebhookTarget[];
}
