import { Pm2Client, pm2DaemonRunning } from '../../fleet/pm2-client.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { stopLeftoverDataPlane } from '../router-data-plane.js';
import { ROUTER_PM2_NAME } from './router-start.js';

export const run: CommandModule['run'] = async (ctx) => {
  const { loaded } = await openProject(ctx);
  const pm2Home = loaded.config.pm2Home;
  // A stop must not start a PM2 daemon just to find nothing there.
  if (!pm2DaemonRunning(pm2Home)) {
    ctx.out.info(`the router is not running (no PM2 daemon in ${pm2Home})`);
    ctx.out.result({ ok: true, wasRunning: false });
    return;
  }
  const pm2 = await Pm2Client.connect(pm2Home);
  try {
    const existing = await pm2.describe(ROUTER_PM2_NAME);
    if (existing === undefined) {
      ctx.out.info('the router is not running under PM2');
      ctx.out.result({ ok: true, wasRunning: false });
      return;
    }
    // PM2 sends SIGINT, and the router lets in-flight requests finish before it exits.
    await pm2.delete(ROUTER_PM2_NAME);
    if (await stopLeftoverDataPlane(loaded.config)) ctx.out.info('stopped the HAProxy the router had left running');
    ctx.out.success(`stopped ${ROUTER_PM2_NAME} (was pid ${existing.pid})`);
    ctx.out.result({ ok: true, wasRunning: true, pid: existing.pid });
  } finally {
    pm2.disconnect();
  }
};
