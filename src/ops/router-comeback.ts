import { routerUrl } from '../config/router-url.js';
import { isSwitchyardError } from '../core/errors.js';
import { Pm2Client, pm2DaemonRunning } from '../fleet/pm2-client.js';
import { fetchHealth } from '../fleet/router-health.js';
import { routerIntended } from '../fleet/router-intent.js';
import { ROUTER_PM2_NAME } from '../fleet/router-names.js';
import { startRouterUnderPm2, type RouterRunning } from '../fleet/router-supervisor.js';
import { requireToken } from '../store/token.js';
import type { OpsDeps } from './deps.js';

export interface RouterComebackRequest {
  /** The config file the router runs with (the command's own). */
  configFile: string;
  dir: string;
  env: NodeJS.ProcessEnv;
}

export type RouterComeback =
  /** It answers (healthy or not): nothing to do here. */
  | { kind: 'up' }
  /** Down, and never started under PM2 on this host (or stopped on purpose): only a warning. */
  | { kind: 'not_configured' }
  | { kind: 'started'; router: RouterRunning }
  | { kind: 'failed'; reason: string };

/**
 * A router is "configured" on this host when `router start` recorded it
 * (fleet/router-intent.ts) or PM2's daemon, still running, lists it (a
 * router started before that record existed, now errored or stopped).
 * Never a daemon started just to look.
 */
async function configured(deps: Pick<OpsDeps, 'config'>): Promise<boolean> {
  const { config } = deps;
  if (routerIntended(config.stateDir)) return true;
  if (!pm2DaemonRunning(config.pm2Home)) return false;
  const pm2 = await Pm2Client.connect(config.pm2Home);
  try {
    return (await pm2.describe(ROUTER_PM2_NAME)) !== undefined;
  } finally {
    pm2.disconnect();
  }
}

/**
 * Brings this host's router back under PM2 when it is configured and does
 * not answer: after PM2's daemon died (its children, the router among
 * them, die with it) the next deploy, promote or rollback starts it again,
 * and its reconcile loop then sees to the processes. A router that cannot
 * be started is reported, never thrown: the operation the command was
 * asked for still runs.
 */
export async function bringRouterBack(deps: Pick<OpsDeps, 'config' | 'progress'>, req: RouterComebackRequest): Promise<RouterComeback> {
  const { config } = deps;
  if ((await fetchHealth(routerUrl(config), 1000)) !== undefined) return { kind: 'up' };
  try {
    if (!(await configured(deps))) return { kind: 'not_configured' };
    await requireToken(config.stateDir, config.router.urls);
    deps.progress?.step(`the router does not answer at ${routerUrl(config)}: starting it again under PM2`);
    return { kind: 'started', router: await startRouterUnderPm2({ config, configFile: req.configFile, dir: req.dir, name: ROUTER_PM2_NAME, env: req.env }) };
  } catch (error) {
    if (!isSwitchyardError(error)) throw error;
    return { kind: 'failed', reason: error.message };
  }
}
