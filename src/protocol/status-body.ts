import type { Rollout } from '../core/rollout-schema.js';
import type { TallyEntry } from '../core/tally.js';

/**
 * The status body (`GET /v1/status`, and `switchyard status --json` with
 * PM2's view added): the wire contract between the router, the CLI, the
 * demo and the web view. Types only; the router builds it (router/status.ts).
 */

/** The policy the router serves, and whether the file on disk is in step with it. */
export interface PolicyFileState {
  /** Generation being served, or null before any valid policy was loaded. */
  generation: number | null;
  /**
   * Whether the file on disk is currently broken (the last good one keeps
   * serving), or lags behind the history (the history's head is served).
   */
  fileBroken: boolean;
  error: string | null;
  loadedAt: string | null;
}

/** One router among those serving a state. */
export interface RouterEntry {
  id: string;
  /** Base URL, without a trailing slash. */
  url: string;
  leader: boolean;
  /** Milliseconds since the router last renewed its record. */
  ageMs: number;
}

/** The fleet-wide tally shared through Redis: how fresh it is. */
export interface SharedTallyState {
  ok: boolean;
  /** Milliseconds since the fleet-wide records were last read; null before the first read. */
  dataAgeMs: number | null;
  /** Accepted heartbeats not yet written to Redis. */
  buffered: number;
  /** Heartbeats dropped because Redis was away past their stale window. */
  dropped: number;
  error: string | null;
}

/** With coordination on Redis: where the fleet-wide tally comes from, and how fresh it is. */
export interface CoordinationStatus extends SharedTallyState {
  /** The Redis URL, password hidden. */
  redis: string;
}

export interface StatusProcess {
  id: string;
  version: string;
  host: string;
  address: string;
  port: number;
  state: string;
  heartbeat: { ageMs: number | null; stale: boolean };
  terminals: number;
  /** PM2's view, when the router or the CLI could ask PM2. */
  pm2?: unknown;
}

export interface StatusService {
  target: string | null;
  canary: { version: string; weight: number } | null;
  processes: StatusProcess[];
  tally: TallyEntry[];
  /** The service's progressive rollout as the policy holds it, with what is left of the step's pause; absent when it never had one. */
  rollout?: Rollout & { pauseLeftMs: number | null };
}

/** Changes made to HAProxy under the router (a reload by someone else, a map entry changed through its admin socket). */
export interface DataPlaneDrift {
  /** Times HAProxy was found out of step with what the router had applied, since the router started. */
  found: number;
  /** Times it was brought back in step. */
  repaired: number;
  /** The last one: when, what differed, and when it was repaired (null: not yet). */
  last: { at: string; what: string; repairedAt: string | null } | null;
}

/** Who carries the terminals' traffic, and the policy generation it has fully applied. */
export interface DataPlaneStatus {
  kind: 'builtin' | 'haproxy';
  generation: number | null;
  /** False while the data plane is not in step with the policy (catching up, a refused command, drift not repaired yet). */
  ok: boolean;
  error: string | null;
  /** HAProxy only. */
  drift?: DataPlaneDrift;
}

/** Something the router found that needs an operator, beyond one process (a policy store that went back). */
export interface StatusAlarm {
  kind: 'policy_regressed';
  message: string;
  /** The highest generation seen before the store went back: what an operator's `status --prune --yes` acknowledges. */
  highest?: number;
}

export interface StatusBody {
  generation: number | null;
  /** Present when something needs an operator; `status --check` exits 1 on any. */
  alarms?: StatusAlarm[];
  policy: PolicyFileState;
  /** Absent when the status was read without a router (status offline). */
  dataPlane?: DataPlaneStatus;
  /** Every router serving this state; exactly one is the drain leader. Absent when read without a router. */
  routers?: RouterEntry[];
  /** Present when several routers share a state through Redis. */
  coordination?: CoordinationStatus;
  services: Record<string, StatusService>;
}
