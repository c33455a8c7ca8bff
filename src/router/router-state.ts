import type { Loads, RoundRobin } from '../core/resolve.js';
import type { TallyBook } from '../core/tally.js';
import type { RouterMetrics } from './metrics.js';
import type { PolicyWatcher } from './policy-watcher.js';
import type { StatusBody } from './status.js';
import type { Store } from '../store/store.js';

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
  /** How long `stop()` lets in-flight requests and sessions finish. */
  shutdownGraceMs?: number;
  log?: (line: string) => void;
  /** Where the web view reads the policy history; default the files in stateDir. */
  historyStore?: Pick<Store, 'history' | 'revision'>;
}

/** What the request handlers share: built once per router. */
export interface RouterState {
  options: RouterOptions;
  watcher: PolicyWatcher;
  tallies: TallyBook;
  metrics: RouterMetrics;
  loads: Loads;
  cursor: RoundRobin;
  now(): number;
  status(): Promise<StatusBody>;
}
