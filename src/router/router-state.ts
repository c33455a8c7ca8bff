import type { Heartbeat } from '../core/heartbeat.js';
import type { Policy } from '../core/policy-schema.js';
import type { ConnectionLimits } from './connection-guard.js';
import type { Loads, RoundRobin } from '../core/resolve.js';
import type { TallyBook } from '../core/tally.js';
import type { RouterMetrics } from './metrics.js';
import type { ProxyLimits } from './proxy-gate.js';
import type { PolicySource, PolicySourceHooks } from './policy-source.js';
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
  /** Client connection bounds; each has the config's default when left out. */
  limits?: Partial<ConnectionLimits>;
  /** The built-in proxy's bounds per process (router.proxy); each has the config's default when left out. */
  proxy?: Partial<ProxyLimits>;
  /** How often the policy file is re-read in case a watch event was missed. */
  policyPollMs?: number;
  /** Where the policy comes from when not from `<stateDir>/policy.json` (Redis, with coordination). */
  policySource?: (hooks: PolicySourceHooks) => PolicySource;
  /** How long `stop()` lets in-flight requests and sessions finish. */
  shutdownGraceMs?: number;
  log?: (line: string) => void;
  /** Where the web view reads the policy history; default the files in stateDir. */
  historyStore?: Pick<Store, 'history' | 'revision'>;
}

/** What the request handlers share: built once per router. */
export interface RouterState {
  options: RouterOptions;
  /** Where the policy is loaded from: it feeds the data plane. */
  watcher: PolicySource;
  /** The policy terminals are answered by: the data plane's applied one, else the loaded one. */
  served(): Policy | undefined;
  tallies: TallyBook;
  metrics: RouterMetrics;
  loads: Loads;
  cursor: RoundRobin;
  now(): number;
  status(): Promise<StatusBody>;
  /** Told of every heartbeat the tally accepted (several routers share them through Redis). */
  onAccepted?: (hb: Heartbeat, nowMs: number) => void;
}

/** The router's clock for heartbeat ages: monotonic, so a wall-clock step never makes a process fresh or stale. */
export const monotonicMs = (): number => performance.now();

/**
 * Tells the tallies which processes the policy names in a live state (call
 * on every policy load): heartbeats from any other id are held, never counted.
 */
export function trackPolicy(tallies: TallyBook, policy: Policy): void {
  const ids: string[] = [];
  for (const service of Object.values(policy.services)) {
    for (const p of service.processes) if (p.state !== 'retired' && p.state !== 'failed') ids.push(p.id);
  }
  tallies.setKnown(ids, monotonicMs());
}
