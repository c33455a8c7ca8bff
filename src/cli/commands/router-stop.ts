import { usageError } from '../../core/errors.js';
import { Pm2Client, pm2DaemonRunning } from '../../fleet/pm2-client.js';
import { clearRouterIntent } from '../../fleet/router-intent.js';
import type { Config } from '../../config/schema.js';
import type { CommandModule } from '../commands.js';
import type { Context } from '../context.js';
import { openProject } from '../project.js';
import { stopLeftoverDataPlane } from '../../host/data-plane.js';
import { isRouterPm2Name, parseListenOption, ROUTER_PM2_NAME, routerPm2Name } from '../router-listen.js';

/**
 * The HAProxy data plane: a router's exit leaves it serving, so that a
 * restart, a crash or an upgrade of the router cuts no session. Stopping
 * the config's router (or --all) ends it here, even when the router itself
 * was already gone.
 */
async function stopDataPlane(ctx: Context, config: Config): Promise<void> {
  if (await stopLeftoverDataPlane(config)) ctx.out.info('stopped HAProxy, the data plane the router had left serving');
}

/**
 * `router stop`: the router on the config's address; `--listen host:port`
 * the one started on that address; `--all` every switchyard router of this
 * PM2 home.
 */
export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const { loaded } = await openProject(ctx);
  if (options.all === true && options.listen !== undefined) throw usageError('conflicting_options', 'router stop takes --listen or --all, not both.');
  const configured = loaded.config.router.listen;
  const named = options.listen === undefined ? ROUTER_PM2_NAME : routerPm2Name(configured, parseListenOption(options.listen));
  const pm2Home = loaded.config.pm2Home;
  const ownsDataPlane = named === ROUTER_PM2_NAME || options.all === true;
  // Stopped on purpose: no later command brings it back (fleet/router-intent.ts).
  if (ownsDataPlane) await clearRouterIntent(loaded.config.stateDir);
  // A stop must not start a PM2 daemon just to find nothing there.
  if (!pm2DaemonRunning(pm2Home)) {
    ctx.out.info(`the router is not running (no PM2 daemon in ${pm2Home})`);
    if (ownsDataPlane) await stopDataPlane(ctx, loaded.config);
    ctx.out.result({ ok: true, wasRunning: false, stopped: [] });
    return;
  }
  const pm2 = await Pm2Client.connect(pm2Home);
  try {
    const wanted = options.all === true
      ? (await pm2.list()).filter((p) => isRouterPm2Name(p.name))
      : [await pm2.describe(named)].filter((p) => p !== undefined);
    if (wanted.length === 0) {
      ctx.out.info(options.all === true ? 'no router is running under PM2' : `${named} is not running under PM2`);
      if (ownsDataPlane) await stopDataPlane(ctx, loaded.config);
      ctx.out.result({ ok: true, wasRunning: false, stopped: [] });
      return;
    }
    // PM2 sends SIGINT, and each router lets in-flight requests finish before it exits.
    for (const router of wanted) {
      await pm2.delete(router.name);
      ctx.out.success(`stopped ${router.name} (was pid ${router.pid})`);
    }
    if (ownsDataPlane) await stopDataPlane(ctx, loaded.config);
    const stopped = wanted.map((p) => ({ name: p.name, pid: p.pid }));
    ctx.out.result({ ok: true, wasRunning: true, pid: wanted[0]!.pid, stopped });
  } finally {
    pm2.disconnect();
  }
};
