import type { LoadedConfig } from '../config/load.js';
import type { OpsDeps } from '../ops/deps.js';
import { bringRouterBack } from '../ops/router-comeback.js';
import type { Context } from './context.js';

/** What deploy, promote and rollback add to their --json result. */
export interface RouterComebackFields {
  /** The router did not answer and was started again under PM2 by this command. */
  routerStarted: boolean;
  /** Why it could not be started again, when it was tried and failed. */
  routerError?: string;
}

/**
 * Before a change: brings this host's router back when it is configured
 * and down (ops/router-comeback.ts), and says so. Whether it answers
 * afterwards is told by routerWarnings, as after every change.
 */
export async function routerComeback(ctx: Context, loaded: LoadedConfig, deps: OpsDeps): Promise<RouterComebackFields> {
  const back = await bringRouterBack(deps, { configFile: loaded.filepath, dir: loaded.dir, env: ctx.env });
  if (back.kind === 'started') {
    const { pid, generation, log } = back.router;
    ctx.out.success(`the router was down: started it again under PM2 (pid ${pid}), serving generation ${generation}; log: ${log}`);
    return { routerStarted: true };
  }
  if (back.kind === 'failed') {
    ctx.out.warn(`the router is down and could not be started again: ${back.reason}`);
    return { routerStarted: false, routerError: back.reason };
  }
  return { routerStarted: false };
}
