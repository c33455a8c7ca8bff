import { Pm2Client, pm2DaemonRunning, type Pm2Process } from '../../fleet/pm2-client.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { readToken } from '../../store/token.js';
import { askRouters, failoverMessages, routerUrls, type Health } from '../router-client.js';
import { ROUTER_PM2_NAME } from '../router-listen.js';

export const run: CommandModule['run'] = async (ctx) => {
  const { loaded } = await openProject(ctx);
  const urls = routerUrls(loaded.config);
  const asked = await askRouters(urls, '/healthz', await readToken(loaded.config.stateDir), 1000);
  const health = asked.body as Health | undefined;
  const url = asked.url ?? urls[0]!;
  for (const message of failoverMessages(asked.failovers)) ctx.out.warn(message);
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
    ...(asked.failovers.length > 0 ? { failovers: asked.failovers } : {}),
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
