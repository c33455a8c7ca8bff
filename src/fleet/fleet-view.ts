import type { FleetProcess } from './fleet.js';
import type { Fleets } from './fleets.js';

/** The error of a host whose fleet has no PM2 daemon yet (reachable, but nothing runs there). */
export const NO_DAEMON = 'no PM2 daemon running';

export interface HostView {
  host: string;
  /** Processes by id, or undefined when the host's fleet could not be asked. */
  processes: Map<string, FleetProcess> | undefined;
  error?: string;
}

/**
 * Asks each host's fleet for its processes, all hosts at once; a host that
 * fails is reported as such rather than failing the whole view.
 */
export async function fleetView(fleets: Fleets, hosts: Iterable<string>): Promise<Map<string, HostView>> {
  const unique = [...new Set(hosts)];
  const views = await Promise.all(
    unique.map(async (host): Promise<HostView> => {
      try {
        const fleet = await fleets.get(host);
        if (fleet === undefined) return { host, processes: undefined, error: NO_DAEMON };
        return { host, processes: new Map((await fleet.list()).map((p) => [p.id, p])) };
      } catch (error) {
        return { host, processes: undefined, error: (error as Error).message };
      }
    }),
  );
  return new Map(views.map((v) => [v.host, v]));
}
