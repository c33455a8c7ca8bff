import type { Config } from '../config/schema.js';
import type { Change } from '../core/policy-schema.js';
import type { ChangedBy } from '../core/rollout-schema.js';
import type { Owner } from '../core/policy-transitions.js';
import type { Fleets } from '../fleet/fleets.js';
import type { Store } from '../store/store.js';

/**
 * What every operation is given: `(deps, request) → result`. The CLI, the
 * demo, the reconcile loop and the tests build it; an operation reaches
 * the world through it alone, so a test can hand it doubles with faults.
 */
export interface OpsDeps {
  config: Config;
  /** The config file's folder: relative scripts on this machine are read from here. */
  dir: string;
  store: Store;
  fleets: Fleets;
  clock: Clock;
  /** Who claims starts and stops (a command, or a router's loop). Its `until` and `leaseMs` are set per claim. */
  owner: Owner;
  /** Who is behind the change (user and host, or the CI job), written into every revision. */
  by?: Change['by'];
  progress?: ProgressSink;
  /** With several routers: the drain leader's lease. Commits carry its fence; nothing acts without it. */
  lease?: Lease;
  /** Whether a claim's owner still runs: false when known dead, undefined when it cannot be told from here. */
  ownerAlive?(owner: Owner): boolean | undefined;
  /** Tells the outside of a change (webhooks); never waits for delivery. */
  notify?(event: OpsEvent): void;
}

export interface Clock {
  /** Wall-clock time, for timestamps people read; never compared with another machine's. */
  now(): Date;
  /** A monotonic clock in milliseconds, for durations measured on this machine. */
  mono(): number;
}

export const systemClock: Clock = { now: () => new Date(), mono: () => performance.now() };

export interface ProgressSink {
  step(message: string): void;
  done?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
}

export interface Lease {
  fence(): number | undefined;
  mayAct(): boolean;
}

/** A change worth telling the outside about (DESIGN.md: notifications); ops/notifier.ts turns it into the posted event. */
export interface OpsEvent {
  /** One of protocol/events.ts's EVENT_TYPES. */
  type: string;
  service: string;
  version: string | null;
  from?: string | null;
  generation: number;
  reason?: string;
  /** Rollout events: the step (1-based) and its canary weight. */
  step?: number;
  canary?: number;
  /** The figures a rollout move was judged on. */
  metrics?: Record<string, unknown>;
  /** Who started the change, when it is not whoever runs this (a rollout's moves carry who started the rollout). */
  by?: ChangedBy | null;
  [key: string]: unknown;
}
