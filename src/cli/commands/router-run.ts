import { failedError } from '../../core/errors.js';
import { Router } from '../../router/router.js';
import { routerOptionsFromConfig } from '../../router/from-config.js';
import { attachFleet } from '../../router/with-fleet.js';
import { ensureToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { openProject } from '../project.js';
import { attachDataPlane } from '../router-data-plane.js';

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

export const run: CommandModule['run'] = async (ctx) => {
  const { loaded } = await openProject(ctx);
  const { token } = await ensureToken(loaded.config.stateDir);
  const router = new Router(routerOptionsFromConfig(loaded.config, token, timestamped));
  let bound: { host: string; port: number };
  try {
    bound = await router.start();
  } catch (error) {
    await router.stop().catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${loaded.config.router.listen.host}:${loaded.config.router.listen.port}`;
    throw failedError(
      'router_listen_failed',
      code === 'EADDRINUSE'
        ? `Cannot listen on ${where}: the address is in use (is a router already running? try \`switchyard router status\`), or change router.listen.`
        : `Cannot listen on ${where}: ${(error as Error).message}.`,
    );
  }
  const fleet = attachFleet(router, loaded.config, timestamped);
  const dataPlane = await attachDataPlane(router, loaded.config, timestamped).catch(async (error: unknown) => {
    await fleet.stop();
    await router.stop();
    throw error;
  });
  ctx.out.result({ ok: true, listening: bound, mode: loaded.config.router.mode, pid: process.pid });
  const signal = await nextStopSignal();
  timestamped(`${signal} received: closing listeners, letting in-flight requests finish`);
  await fleet.stop();
  await dataPlane.stop();
  await router.stop();
  timestamped('router stopped');
  // Under PM2 the IPC channel to its daemon keeps the process alive: let go of
  // it, and if anything else still holds the event loop, end after a grace.
  if (process.channel !== undefined) process.disconnect?.();
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
};
