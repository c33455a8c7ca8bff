import type { Config } from '../config/schema.js';
import { failedError } from '../core/errors.js';
import { TallyBook } from '../core/tally.js';
import { routerOptionsFromConfig } from '../router/from-config.js';
import { listenFailure } from '../fleet/port-holder.js';
import { Router } from '../router/router.js';
import { monotonicMs } from '../router/router-state.js';
import { joinCoordination, type Coordination } from './coordination.js';
import { dataPlaneFor } from './data-plane.js';
import { hostFleet } from './fleet.js';
import { hostNotifier, hostRollouts, STOP_FLUSH_MS, type HostedRollouts } from './rollout.js';
import { pm2StatusExtras } from './status-extras.js';

export interface RouterHostInput {
  config: Config;
  /** The config file's folder (relative scripts of replacement processes are read from here). */
  dir: string;
  /** The state's secret (read, never made, by a router). */
  token: string;
  log(line: string): void;
  /** On the config's own address: without Redis only this router drains. */
  primary: boolean;
}

export interface RouterHost {
  router: Router;
  bound: { host: string; port: number };
  /** Lets go of the lease first (another router takes the drains at once), then the loops, the data plane (left serving), the listener. */
  stop(): Promise<void>;
}

/**
 * The one place a router process is wired: its tally, its policy feed,
 * its webhook notifier, the router built with every port it needs, then
 * (once it listens) the coordination with other routers, the reconcile
 * and rollout loops under the drain leadership, and the data plane. Nothing is assigned to the router after
 * it is built; ports read what is made later through closures.
 */
export async function startRouterHost(input: RouterHostInput): Promise<RouterHost> {
  const { config, log } = input;
  const r = config.router;
  const tallies = new TallyBook({ intervalMs: r.heartbeatIntervalMs, staleAfter: r.staleAfter });
  const fleet = hostFleet(config, log, { config, dir: input.dir, token: input.token, env: process.env });
  const notifier = await hostNotifier(config, log);
  let coordination: Coordination | undefined;
  let router: Router | undefined;
  const dataPlane = dataPlaneFor({ config, loaded: () => router?.state.watcher.current(), down: fleet.unavailable, log });
  router = new Router(routerOptionsFromConfig(config, input.token, log), {
    tallies,
    statusExtras: pm2StatusExtras(config, fleet.fleets),
    dataPlane: dataPlane.port,
    routers: () => (coordination?.routers === undefined ? Promise.resolve([{ id: router!.id, url: router!.url, leader: true, ageMs: 0 }]) : coordination.routers()),
    coordination: () => coordination?.status?.(),
    onAccepted: (hb, nowMs) => coordination?.onAccepted?.(hb, nowMs),
    unavailable: fleet.unavailable,
    alarms: fleet.alarms,
    ...(notifier === undefined ? {} : { webhooks: () => notifier.counts() }),
  });
  let bound: { host: string; port: number };
  try {
    bound = await router.start();
  } catch (error) {
    const { host, port } = r.listen;
    const message = await listenFailure(host, port, error as NodeJS.ErrnoException);
    await router.stop().catch(() => undefined);
    await fleet.stop();
    notifier?.stop();
    throw failedError('router_listen_failed', message);
  }
  const built = router;
  let rollouts: HostedRollouts | undefined;
  const notify = notifier?.notify;
  try {
    // The counts this router has: HAProxy's servers' with that data plane (the router sees none of it), else its own.
    const counts = dataPlane.stats ?? built.state.metrics.requests;
    coordination = await joinCoordination({ config, self: { id: built.id, url: built.url }, tallies, metrics: built.state.metrics, counts, now: monotonicMs, log, primary: input.primary });
    if (coordination.traffic !== undefined) dataPlane.stats?.start(Math.max(100, Math.floor(r.heartbeatIntervalMs / 2)));
    fleet.start({
      tallies, metrics: built.state.metrics, leadership: coordination.leadership,
      ...(notify === undefined ? {} : { notify }),
      ...(config.router.mode === 'proxy' && config.router.dataPlane === 'builtin' ? { closeSessions: (id, request) => built.closeSessions(id, request) } : {}),
    });
    rollouts = hostRollouts(config, { fleets: fleet.fleets, leadership: coordination.leadership, traffic: coordination.traffic ?? dataPlane.stats ?? built.state.metrics.requests, log, ...(notify === undefined ? {} : { notify }) });
    await dataPlane.start(built.state.metrics.registry);
  } catch (error) {
    await rollouts?.stop();
    await fleet.stop();
    await coordination?.stop();
    await built.stop();
    notifier?.stop();
    throw error;
  }
  return {
    router: built,
    bound,
    async stop() {
      await coordination?.stop();
      await rollouts?.stop();
      await fleet.stop();
      // Released, not stopped: HAProxy keeps serving through a restart or an upgrade (router stop and down stop it).
      await dataPlane.release();
      await built.stop();
      await notifier?.flush(STOP_FLUSH_MS);
      notifier?.stop();
    },
  };
}
