import type { Config, ServiceConfig } from '../config/schema.js';
import type { Policy } from '../core/policy-schema.js';
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

/** What a launch is asked to do (the deps come separately, as for every operation). */
export interface LaunchRequest {
  service: ServiceConfig;
  version: string;
  /** The router's secret: each process gets a key derived from it. */
  token: string;
  /** The environment local processes start from. */
  env: NodeJS.ProcessEnv;
  /** The op recorded with the revisions (deploy, rollback). */
  op: string;
  /** How long the claims last without a renewal (renewed every third of it while the launch works). */
  leaseMs: number;
  /**
   * The record step's last change, applied to the head after the ready
   * processes are marked active, in the same commit: promote, canary,
   * rollback, or nothing. Runs again on a conflict, so it must be pure.
   */
  finish?(policy: Policy, readyIds: readonly string[]): Policy;
  /** Only these of the service's hosts (default: all of them). */
  hosts?: readonly string[];
  /** Processes per host (default the service's instances): a replacement starts one per lost process. */
  instancesPerHost?: number;
  /** Hosts worked on at once (default 8). */
  parallel?: number;
  /** --port: one port per process, in host order, instead of the service's range. */
  ports?: readonly number[];
  /** Keep the hosts that became ready when others failed. */
  allowPartial?: boolean;
  /** Copy this local folder into the version's folder on each host first. */
  sync?: { from: string; folder: string };
}

/** A launch's request and the deps it runs with, as the per-host steps read them. */
export interface LaunchInput extends LaunchRequest {
  config: Config;
  dir: string;
  fleets: Fleets;
  onStep?: (message: string) => void;
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
