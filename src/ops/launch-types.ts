import type { Config, ServiceConfig } from '../config/schema.js';
import type { Owner } from '../core/policy-transitions.js';
import type { Policy } from '../core/policy-schema.js';
import type { Store } from '../store/store.js';
import type { Fleets } from '../fleet/fleets.js';

export type StartOutcomeKind = 'ready' | 'failed' | 'not_started';

export interface StartOutcome {
  id: string;
  host: string;
  address: string;
  port: number | null;
  outcome: StartOutcomeKind;
  reason?: string;
  readyMs?: number;
  /** The last log lines of a process that failed. */
  log?: string;
}

/** One host's result: ready, failed, removed (it was ready, another host failed) or skipped (not tried). */
export interface HostOutcome {
  host: string;
  address: string;
  outcome: 'ready' | 'failed' | 'removed' | 'skipped';
  reason?: string;
  /** The process ids on this host. */
  processes: string[];
  ports?: number[];
  /** Wall time of this host's steps. */
  ms: number;
  /** How the release was copied there (with --sync). */
  synced?: 'rsync' | 'tar' | 'copy' | 'none';
  /** Set when removing what was started there failed: those processes may still run. */
  cleanupError?: string;
}

export interface LaunchInput {
  config: Config;
  /** The config file's folder: relative scripts on this machine are read from here. */
  dir: string;
  service: ServiceConfig;
  version: string;
  store: Store;
  fleets: Fleets;
  /** The router's secret: each process gets a key derived from it. */
  token: string;
  env: NodeJS.ProcessEnv;
  /** Who claims the starts (this command), with a lease long enough to start and wait. */
  owner: Owner;
  /**
   * The record step's last change, applied to the head after the ready
   * processes are marked active, in the same commit: promote, canary,
   * rollback, or nothing. Runs again on a conflict, so it must be pure.
   */
  finish?(policy: Policy, readyIds: readonly string[]): Policy;
  onStep?: (message: string) => void;
  /** Only these of the service's hosts (default: all of them). */
  hosts?: readonly string[];
  /** Hosts worked on at once (default 8). */
  parallel?: number;
  /** --port: one port per process, in host order, instead of the service's range. */
  ports?: readonly number[];
  /** Keep the hosts that became ready when others failed. */
  allowPartial?: boolean;
  /** Copy this local folder into the version's folder on each host first. */
  sync?: { from: string; folder: string };
  /** Called after the claim commit and before the first start (tests stop here to play a crash). */
  afterClaim?(claimed: readonly string[]): Promise<void> | void;
}

export interface LaunchResult {
  ok: boolean;
  /** Ok, but only some hosts (--allow-partial). */
  partial: boolean;
  processes: StartOutcome[];
  hosts: HostOutcome[];
  /** The ids claimed (and started) by this launch. */
  claimed: string[];
  /** The head after the record commit (or after the failure was recorded). */
  policy: Policy | undefined;
}
