import type { Config } from '../config/schema.js';
import { FleetSet } from '../rollout/fleets.js';
import { fleetView, type HostView } from '../rollout/fleet-view.js';
import { openStore } from '../store/open-store.js';
import { DrainController } from './drain-controller.js';
import type { Router } from './router.js';

/** How long one look at the fleets serves later status requests. */
const VIEW_REUSE_MS = 1000;

/**
 * Gives a router its fleets: PM2's view in /v1/status and the drain
 * controller. The router never starts a PM2 daemon itself; it uses one once
 * one is running for the host.
 */
export function attachFleet(router: Router, config: Config, log: (line: string) => void): { stop(): Promise<void> } {
  // A remote host is asked over ssh (about a second with pm2's CLI): bound each call, and let
  // status requests that come close together share one look.
  const fleets = new FleetSet(config, false, 15_000);
  let recent: { key: string; at: number; views: Promise<Map<string, HostView>> } | undefined;
  const look = (hosts: string[]): Promise<Map<string, HostView>> => {
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
  const controller = new DrainController({
    store: openStore(config),
    current: () => router.state.watcher.current(),
    tallies: router.state.tallies,
    metrics: router.state.metrics,
    fleet: (host) => fleets.get(host),
    graceFor: (service) => (Object.hasOwn(config.services, service) ? config.services[service]!.drain.grace : 2),
    intervalMs: config.router.heartbeatIntervalMs,
    log,
  });
  controller.start();
  return {
    async stop() {
      controller.stop();
      await fleets.closeAll();
    },
  };
}
