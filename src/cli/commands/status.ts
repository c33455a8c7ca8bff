import type { Config } from '../../config/schema.js';
import type { Policy } from '../../core/policy-schema.js';
import { FleetSet } from '../../rollout/fleets.js';
import { fleetView } from '../../rollout/fleet-view.js';
import type { StatusBody } from '../../router/status.js';
import type { Store } from '../../store/store.js';
import { readToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import type { Context } from '../context.js';
import { openProject } from '../project.js';
import { fetchStatus, routerUrl } from '../router-client.js';
import { printStatus } from '../status-print.js';

/** Status without the router: the policy, and PM2's view when a daemon runs; no heartbeats. */
async function offlineStatus(config: Config, policy: Policy): Promise<StatusBody> {
  const fleets = new FleetSet(config, false);
  try {
    const hosts = Object.values(policy.services).flatMap((s) => s.processes.map((p) => p.host));
    const views = await fleetView(fleets, hosts);
    const services: StatusBody['services'] = {};
    for (const [name, s] of Object.entries(policy.services)) {
      services[name] = {
        target: s.target,
        canary: s.canary,
        tally: [],
        processes: s.processes.map((p) => {
          const view = views.get(p.host);
          return {
            id: p.id, version: p.version, host: p.host, address: p.address, port: p.port, state: p.state,
            heartbeat: { ageMs: null, stale: true }, terminals: 0,
            pm2: view?.processes === undefined ? { unreachable: view?.error ?? 'unknown' } : (view.processes.get(p.id) ?? null),
          };
        }),
      };
    }
    return { generation: policy.generation, policy: { generation: policy.generation, fileBroken: false, error: null, loadedAt: null }, services };
  } finally {
    await fleets.closeAll();
  }
}

async function snapshot(ctx: Context, config: Config, store: Store): Promise<{ body: StatusBody; routerUp: boolean }> {
  const token = await readToken(config.stateDir);
  const fromRouter = token === undefined ? undefined : ((await fetchStatus(routerUrl(config), token)) as StatusBody | undefined);
  if (fromRouter !== undefined) return { body: fromRouter, routerUp: true };
  return { body: await offlineStatus(config, await store.read()), routerUp: false };
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const show = async (): Promise<void> => {
    const { body, routerUp } = await snapshot(ctx, config, store);
    await printStatus(ctx, { body, routerUp, url: routerUrl(config), watch: options.watch === true });
  };
  if (options.watch !== true) return show();
  // Redraws every heartbeat interval until Ctrl-C, which ends with exit 0.
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (!stopped) {
    await show();
    const until = Date.now() + config.router.heartbeatIntervalMs;
    while (!stopped && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  }
};
