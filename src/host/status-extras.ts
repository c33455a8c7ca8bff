import type { Config } from '../config/schema.js';
import { fleetView, type HostView } from '../fleet/fleet-view.js';
import type { FleetSet } from '../fleet/fleets.js';
import type { StatusBody } from '../protocol/status-body.js';

/** How long one look at remote fleets serves later status requests. */
const VIEW_REUSE_MS = 1000;

/**
 * PM2's view of each process, added to /v1/status. A remote host is asked
 * over ssh (about a second with pm2's CLI): status requests that come
 * close together share one look there. Local hosts are asked every time
 * (a few ms), so a process deployed a moment ago never shows as missing.
 */
export function pm2StatusExtras(config: Config, fleets: FleetSet): (body: StatusBody) => Promise<StatusBody> {
  let recent: { key: string; at: number; views: Promise<Map<string, HostView>> } | undefined;
  const look = (hosts: string[]): Promise<Map<string, HostView>> => {
    if (!hosts.some((h) => config.hosts[h]?.local === false)) return fleetView(fleets, hosts);
    const key = [...new Set(hosts)].sort().join('\n');
    if (recent === undefined || recent.key !== key || Date.now() - recent.at > VIEW_REUSE_MS) recent = { key, at: Date.now(), views: fleetView(fleets, hosts) };
    return recent.views;
  };
  return async (body) => {
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
}
