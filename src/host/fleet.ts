import type { Config } from '../config/schema.js';
import type { Leadership } from '../control/leadership.js';
import { ReconcileLoop } from '../control/reconcile-loop.js';
import type { ReplaceDeps } from '../control/replace-lost.js';
import { describeRegression, type Regression } from '../core/regression.js';
import type { TallyBook } from '../core/tally.js';
import { parseProcessId } from '../core/names.js';
import type { ProcessEntry } from '../core/policy-schema.js';
import type { StatusAlarm } from '../protocol/status-body.js';
import { FleetSet } from '../fleet/fleets.js';
import type { OpsEvent } from '../ops/deps.js';
import type { RouterMetrics } from '../router/metrics.js';
import { openStore } from '../store/open-store.js';

/**
 * A router's fleets: the reconcile loop (claim → act → record) that
 * retires drained processes and watches the policy against PM2, and the
 * set of processes it found down, which logins and resolves avoid. The
 * router never starts a PM2 daemon itself; it uses one once one runs.
 */
/** The router's paced close of a process's WebSockets (Router.closeSessions). */
export type CloseSessions = (processId: string, request: { code: number; reason: string; overMs: number }) => Promise<{ closed: number }>;

export interface HostedFleet {
  fleets: FleetSet;
  /** Processes the last pass found missing or down in PM2. */
  unavailable(id: string): boolean;
  /** What the last pass found that needs an operator (the store went back). */
  alarms(): StatusAlarm[];
  /** Starts the loop; the router and its tally exist by then. */
  start(deps: { tallies: TallyBook; metrics: RouterMetrics; leadership: Leadership; closeSessions?: CloseSessions; notify?: (event: OpsEvent) => void }): ReconcileLoop;
  stop(): Promise<void>;
}

export function hostFleet(config: Config, log: (line: string) => void, replace?: ReplaceDeps): HostedFleet {
  // Remote hosts are asked over ssh: bound each call.
  const fleets = new FleetSet(config, false, 15_000);
  const down = new Set<string>();
  let regression: Regression | undefined;
  let loop: ReconcileLoop | undefined;
  return {
    fleets,
    unavailable: (id) => down.has(id),
    alarms: () => (regression === undefined ? [] : [{ kind: 'policy_regressed', message: describeRegression(regression), highest: regression.highest }]),
    start({ tallies, metrics, leadership, closeSessions, notify }) {
      loop = new ReconcileLoop({
        store: openStore(config),
        fleets,
        tallies,
        grace: Object.fromEntries(Object.values(config.services).map((s) => [s.name, s.drain.grace])),
        intervalMs: config.router.heartbeatIntervalMs,
        self: leadership.self,
        ownerAlive: leadership.ownerAlive,
        lease: { mayAct: leadership.mayAct, fence: leadership.fence },
        ...(replace === undefined ? {} : { replace }),
        log,
        ...(notify === undefined ? {} : { notify }),
        metrics: {
          retired: (service, reason) => metrics.retired.inc({ service, reason }),
          cutOff: (service, version, n) => metrics.drainCutOff.inc({ service, version }, n),
        },
        // At a drain deadline, in proxy mode: the version's WebSockets are closed (1012), paced, before the stop.
        ...(closeSessions === undefined ? {} : {
          beforeDeadlineStop: async (entry: ProcessEntry) => {
            const service = parseProcessId(entry.id)?.service;
            const overMs = service !== undefined && Object.hasOwn(config.services, service) ? config.services[service]!.drain.closeOverMs : 10_000;
            const { closed } = await closeSessions(entry.id, { code: 1012, reason: `${entry.version} is retiring: log in again`, overMs });
            if (closed > 0) log(`${entry.id}: closed ${closed} WebSocket session${closed === 1 ? '' : 's'} at its drain deadline, over ${overMs} ms`);
          },
        }),
        onObserved: (missing, _orphans, found) => {
          regression = found;
          down.clear();
          for (const m of missing) down.add(m.id);
          metrics.setMissing(missing);
        },
      });
      loop.start();
      return loop;
    },
    async stop() {
      loop?.stop();
      await fleets.closeAll();
    },
  };
}
