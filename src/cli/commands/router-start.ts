import { recordRouterIntent } from '../../fleet/router-intent.js';
import { startRouterUnderPm2 } from '../../fleet/router-supervisor.js';
import { requireToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { ROUTER_PM2_NAME, routerPm2Name, withListen } from '../router-listen.js';

/** `router start [--listen]`: the router under PM2 (fleet/router-supervisor.ts), returning once it answers. */
export const run: CommandModule['run'] = async (ctx, _args, options) => {
  const project = await openProject(ctx);
  // --listen: one more router with the same config on another address, under a PM2 name of its own.
  const loaded = withListen(project.loaded, options.listen);
  const { config } = loaded;
  // Before anything is made (logs, PM2 home): without the state's token the router could only refuse heartbeats.
  await requireToken(config.stateDir, config.router.urls);
  const name = routerPm2Name(project.loaded.config.router.listen, config.router.listen);
  // A router without a valid policy would only answer 503: say so now, not after the start timeout.
  await project.store.read();
  const running = await startRouterUnderPm2(
    { config, configFile: loaded.filepath, dir: loaded.dir, name, env: process.env, ...(options.listen === undefined ? {} : { listen: config.router.listen }) },
    (m) => ctx.out.info(m),
  );
  // The config's own router is meant to run from now on: commands bring it back if PM2's daemon dies.
  if (name === ROUTER_PM2_NAME) await recordRouterIntent(config.stateDir, loaded.filepath, new Date());
  const shownName = name === ROUTER_PM2_NAME ? '' : ` ${name}`;
  const { pid, url, generation } = running;
  if (running.alreadyRunning) {
    ctx.out.success(`the router${shownName} is already running (pid ${pid}) on ${url}, serving generation ${generation}`);
    ctx.out.result({ ok: true, alreadyRunning: true, name, pid, url, generation });
    return;
  }
  ctx.out.success(`router${shownName} running on ${url} (pid ${pid}), serving generation ${generation}; log: ${running.log}`);
  ctx.out.result({ ok: true, alreadyRunning: false, name, pid, url, generation, log: running.log });
};
