import type { Config } from '../config/schema.js';
import type { Leadership } from '../control/leadership.js';
import { ReconcileLoop } from '../control/reconcile-loop.js';
import type { TallyBook } from '../core/tally.js';
import { FleetSet } from '../fleet/fleets.js';
import type { RouterMetrics } from '../router/metrics.js';
import { openStore } from '../store/open-store.js';

/**
 * A router's fleets: the reconcile loop (claim → act → record) that
 * retires drained processes and watches the policy against PM2, and the
 * set of processes it found down, which logins and resolves avoid. The
 * router never starts a PM2 daemon itself; it uses one once one runs.
 */
export interface HostedFleet {
  fleets: FleetSet;
  /** Processes the last pass found missing or down in PM2. */
  unavailable(id: string): boolean;
  /** Starts the loop; the router and its tally exist by then. */
  start(deps: { tallies: TallyBook; metrics: RouterMetrics; leadership: Leadership }): ReconcileLoop;
  stop(): Promise<void>;
}

export function hostFleet(config: Config, log: (line: string) => void): HostedFleet {
  // Remote hosts are asked over ssh: bound each call.
  const fleets = new FleetSet(config, false, 15_000);
  const down = new Set<string>();
  let loop: ReconcileLoop | undefined;
  return {
    fleets,
    unavailable: (id) => down.has(id),
    start({ tallies, metrics, leadership }) {
      loop = new ReconcileLoop({
        store: openStore(config),
        fleet: (host) => fleets.get(host),
        tallies,
        graceFor: (service) => (Object.hasOwn(config.services, service) ? config.services[service]!.drain.grace : 2),
        intervalMs: config.router.heartbeatIntervalMs,
        self: leadership.self,
        ownerAlive: leadership.ownerAlive,
        mayAct: leadership.mayAct,
        fence: leadership.fence,
        log,
        metrics: {
          retired: (service, reason) => metrics.retired.inc({ service, reason }),
          cutOff: (service, version, n) => metrics.drainCutOff.inc({ service, version }, n),
        },
        onObserved: (missing) => {
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
