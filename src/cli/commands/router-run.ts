import { startRouterHost, type RouterHost } from '../../host/router-host.js';
import { requireToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { withListen } from '../router-listen.js';

function timestamped(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/** Resolves on the first SIGINT or SIGTERM. */
function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * Lets go of PM2's IPC channel (it would keep a failed router alive), and
 * ends the process after a grace if anything else still holds the event
 * loop, with the exit code main has set by then.
 */
function exitSoon(graceMs: number, fallbackCode: number): void {
  if (process.channel !== undefined) process.disconnect?.();
  setTimeout(() => process.exit(process.exitCode ?? fallbackCode), graceMs).unref();
}

export const run: CommandModule['run'] = async (ctx, _args, options) => {
  // --listen: one more router with the same config, on another address.
  const own = (await openProject(ctx)).loaded;
  const loaded = withListen(own, options.listen);
  // Read, never made: a router with a token of its own would refuse every heartbeat (only `init` makes one).
  const token = await requireToken(loaded.config.stateDir, loaded.config.router.urls);
  // A background loop's failure is logged and the router keeps serving; it never ends the process.
  process.on('unhandledRejection', (reason) => {
    timestamped(`a background task failed (the router keeps serving): ${(reason as Error)?.stack ?? String(reason)}`);
  });
  // Without Redis only the router on the config's own address drains; one started with --listen elsewhere serves.
  const configured = own.config.router.listen;
  const primary = configured.host === loaded.config.router.listen.host && configured.port === loaded.config.router.listen.port;
  let host: RouterHost;
  try {
    host = await startRouterHost({ config: loaded.config, dir: loaded.dir, token, log: timestamped, primary });
  } catch (error) {
    exitSoon(1000, 1);
    throw error;
  }
  ctx.out.result({ ok: true, listening: host.bound, mode: loaded.config.router.mode, pid: process.pid });
  const signal = await nextStopSignal();
  timestamped(`${signal} received: closing listeners, letting in-flight requests finish`);
  await host.stop();
  timestamped('router stopped');
  // Under PM2 the IPC channel to its daemon keeps the process alive.
  exitSoon(2000, 0);
};
