import type { Config } from '../config/schema.js';
import { FleetSet } from '../rollout/fleets.js';
import { fleetView, type HostView } from '../rollout/fleet-view.js';
import { soleLeadership, type Leadership } from '../control/leadership.js';
import { ownerOf } from '../control/owner.js';
import { ReconcileLoop } from '../control/reconcile-loop.js';
import { openStore } from '../store/open-store.js';
import type { Router } from './router.js';

/** How long one look at the fleets serves later status requests. */
const VIEW_REUSE_MS = 1000;

/**
 * Gives a router its fleets: PM2's view in /v1/status, and the reconcile
 * loop (claim → act → record) that retires drained processes and watches
 * the policy against PM2. The router never starts a PM2 daemon itself; it
 * uses one once one is running for the host.
 */
export function attachFleet(router: Router, config: Config, log: (line: string) => void, leadership: Leadership = soleLeadership(ownerOf('router', new Date(), 0))): { stop(): Promise<void>; loop: ReconcileLoop } {
  // A remote host is asked over ssh (about a second with pm2's CLI): bound each call, and let
  // status requests that come close together share one look.
  const fleets = new FleetSet(config, false, 15_000);
  let recent: { key: string; at: number; views: Promise<Map<string, HostView>> } | undefined;
  const look = (hosts: string[]): Promise<Map<string, HostView>> => {
    // Local hosts are asked every time (a few ms): a process deployed a moment ago must not show as missing.
    if (!hosts.some((h) => config.hosts[h]?.local === false)) return fleetView(fleets, hosts);
    const key = [...new Set(hosts)].sort().join('\n');
    if (recent === undefined || recent.key !== key || Date.now() - recent.at > VIEW_REUSE_MS) recent = { key, at: Date.now(), views: fleetView(fleets, hosts) };
    return recent.views;
  };
  router.statusExtras = async (body) => {
    const hosts = Object.values(body.services).flatMap((s) => s.processes.map((p) => p.host));
    const views = await look(hosts);
    for (const service of Object.values(body.services)) {
      for (const p of service.processes) {
        const view = views.get(p.host);
        const seen = view?.processes?.get(p.id);
        p.pm2 = seen === undefined ? (view?.processes === undefined ? { unreachable: view?.error ?? 'unknown' } : null) : seen;
      }
    }
    return body;
  };
  const down = new Set<string>();
  router.state.loads.unavailable = (id) => down.has(id);
  const loop = new ReconcileLoop({
    store: openStore(config),
    fleet: (host) => fleets.get(host),
    tallies: router.state.tallies,
    graceFor: (service) => (Object.hasOwn(config.services, service) ? config.services[service]!.drain.grace : 2),
    intervalMs: config.router.heartbeatIntervalMs,
    self: leadership.self,
    ownerAlive: leadership.ownerAlive,
    mayAct: leadership.mayAct,
    fence: leadership.fence,
    log,
    metrics: {
      retired: (service, reason) => router.state.metrics.retired.inc({ service, reason }),
      cutOff: (service, version, n) => router.state.metrics.drainCutOff.inc({ service, version }, n),
    },
    onObserved: (missing) => {
      down.clear();
      for (const m of missing) down.add(m.id);
      router.state.metrics.setMissing(missing);
    },
  });
  loop.start();
  return {
    loop,
    async stop() {
      loop.stop();
      await fleets.closeAll();
    },
  };
}
