import { Pm2Client, pm2DaemonRunning, type Pm2Process } from '../../fleet/pm2-client.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { readToken } from '../../store/token.js';
import { fetchHealth, routerUrl } from '../router-client.js';
import { ROUTER_PM2_NAME } from './router-start.js';

export const run: CommandModule['run'] = async (ctx) => {
  const { loaded } = await openProject(ctx);
  const url = routerUrl(loaded.config);
  const health = await fetchHealth(url, 1000, await readToken(loaded.config.stateDir));
  let pm2View: Pm2Process | undefined;
  if (pm2DaemonRunning(loaded.config.pm2Home)) {
    const pm2 = await Pm2Client.connect(loaded.config.pm2Home);
    try {
      pm2View = await pm2.describe(ROUTER_PM2_NAME);
    } finally {
      pm2.disconnect();
    }
  }
  const answering = health !== undefined;
  ctx.out.result({
    ok: true,
    url,
    answering,
    healthy: health?.ok ?? false,
    generation: health?.generation ?? null,
    policyFileBroken: health?.fileBroken ?? null,
    policyError: health?.error ?? null,
    pm2: pm2View === undefined ? null : { status: pm2View.status, pid: pm2View.pid, restarts: pm2View.restarts, uptimeMs: pm2View.uptimeMs },
  });
  if (ctx.out.json) return;
  if (!answering) ctx.out.print(`router: not answering on ${url}`);
  else ctx.out.print(`router: ${health.ok ? 'healthy' : 'up, but has no valid policy'} on ${url}, mode ${health.mode ?? loaded.config.router.mode}, generation ${health.generation ?? '-'}${health.fileBroken ? `; the policy file is broken: ${health.error}` : ''}`);
  ctx.out.print(pm2View === undefined ? 'PM2: not running the router' : `PM2: ${pm2View.status}, pid ${pm2View.pid}, ${pm2View.restarts} restarts`);
};
