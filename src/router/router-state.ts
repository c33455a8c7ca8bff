import type { Loads, RoundRobin } from '../core/resolve.js';
import type { TallyBook } from '../core/tally.js';
import type { RouterMetrics } from './metrics.js';
import type { PolicySource, PolicySourceHooks } from './policy-source.js';
import type { StatusBody } from './status.js';

export interface RouterOptions {
  /** The state folder holding policy.json. */
  stateDir: string;
  host: string;
  port: number;
  mode: 'redirect' | 'proxy';
  heartbeatIntervalMs: number;
  staleAfter: number;
  versionHeader: string;
  serviceHeader: string;
  maxBodyBytes: number;
  token: string;
  /** How often the policy file is re-read in case a watch event was missed. */
  policyPollMs?: number;
  /** Where the policy comes from when not from `<stateDir>/policy.json` (Redis, with coordination). */
  policySource?: (hooks: PolicySourceHooks) => PolicySource;
  /** How long `stop()` lets in-flight requests and sessions finish. */
  shutdownGraceMs?: number;
  log?: (line: string) => void;
}

/** What the request handlers share: built once per router. */
export interface RouterState {
  options: RouterOptions;
  watcher: PolicySource;
  tallies: TallyBook;
  metrics: RouterMetrics;
  loads: Loads;
  cursor: RoundRobin;
  now(): number;
  status(): Promise<StatusBody>;
}
