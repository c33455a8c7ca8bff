import { failedError } from '../../core/errors.js';
import { Router } from '../../router/router.js';
import { routerOptionsFromConfig } from '../../router/from-config.js';
import { listenFailure } from '../../router/port-holder.js';
import { attachCoordination } from '../../router/with-coordination.js';
import { attachFleet } from '../../router/with-fleet.js';
import { ensureToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { attachDataPlane } from '../router-data-plane.js';
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
  const { token } = await ensureToken(loaded.config.stateDir);
  // A background loop's failure is logged and the router keeps serving; it never ends the process.
  process.on('unhandledRejection', (reason) => {
    timestamped(`a background task failed (the router keeps serving): ${(reason as Error)?.stack ?? String(reason)}`);
  });
  const router = new Router(routerOptionsFromConfig(loaded.config, token, timestamped));
  let bound: { host: string; port: number };
  try {
    bound = await router.start();
  } catch (error) {
    const { host, port } = loaded.config.router.listen;
    const message = await listenFailure(host, port, error as NodeJS.ErrnoException);
    await router.stop().catch(() => undefined);
    exitSoon(1000, 1);
    throw failedError('router_listen_failed', message);
  }
  // Without Redis only the router on the config's own address drains; one started with --listen elsewhere serves.
  const configured = own.config.router.listen;
  const primary = configured.host === loaded.config.router.listen.host && configured.port === loaded.config.router.listen.port;
  const coordination = await attachCoordination(router, loaded.config, timestamped, primary);
  const fleet = attachFleet(router, loaded.config, timestamped, coordination.leadership);
  const dataPlane = await attachDataPlane(router, loaded.config, timestamped).catch(async (error: unknown) => {
    await fleet.stop();
    await coordination.stop();
    await router.stop();
    throw error;
  });
  ctx.out.result({ ok: true, listening: bound, mode: loaded.config.router.mode, pid: process.pid });
  const signal = await nextStopSignal();
  timestamped(`${signal} received: closing listeners, letting in-flight requests finish`);
  // The lease is given up first, so another router takes over the drains at once.
  await coordination.stop();
  await fleet.stop();
  await dataPlane.stop();
  await router.stop();
  timestamped('router stopped');
  // Under PM2 the IPC channel to its daemon keeps the process alive.
  exitSoon(2000, 0);
};
