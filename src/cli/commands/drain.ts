import { parseDuration } from '../../core/duration.js';
import { checkVersion } from '../../core/version.js';
import { drain, drainNow } from '../../ops/drain.js';
import type { StatusBody } from '../../protocol/status-body.js';
import { readToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import { printPlan } from '../dry-run.js';
import { commandOps } from '../ops-deps.js';
import { createProgress } from '../progress.js';
import { openProject } from '../project.js';
import { failoverMessages, fetchStatus, routerUrls } from '../router-client.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';
import { waitRetired } from '../wait-retired.js';

/** Terminals each process holds by its last heartbeat, when the router answers. */
async function terminalsHeld(urls: readonly string[], token: string | undefined, service: string, warn: (message: string) => void): Promise<Map<string, number> | undefined> {
  if (token === undefined) return undefined;
  const asked = await fetchStatus(urls, token);
  for (const message of failoverMessages(asked.failovers)) warn(message);
  const status = asked.body as StatusBody | undefined;
  const svc = status?.services[service];
  if (svc === undefined) return undefined;
  return new Map(svc.processes.map((p) => [p.id, p.terminals]));
}

/** `drain <version>` (`--now`, `--wait`): parse, run the drain operation, print. */
export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const timeoutMs = options.timeout === undefined ? undefined : parseDuration(String(options.timeout), '--timeout');
  const dryRun = options.dryRun === true;

  if (options.now === true) {
    const held = dryRun ? undefined : await terminalsHeld(routerUrls(config), await readToken(config.stateDir), service.name, (m) => ctx.out.warn(m));
    const ops = commandOps(ctx, loaded, store, 'drain', { startDaemon: !dryRun });
    const result = await drainNow(ops.deps, { service, version, held, dryRun }).finally(() => ops.close());
    if (dryRun) return printPlan(ctx, result.before, result.after, []);
    ctx.out.success(`stopped ${result.stopped.length} of ${result.stopped.length + result.failed.length}; terminals cut off: ${result.terminalsCutOff ?? 'unknown (the router did not answer)'}`);
    ctx.out.result({ ok: true, service: service.name, version, stopped: result.stopped, terminalsCutOff: result.terminalsCutOff, generation: result.generation });
    return;
  }

  const ops = commandOps(ctx, loaded, store, 'drain', { startDaemon: false });
  const result = await drain(ops.deps, { service, version, dryRun }).finally(() => ops.close());
  if (dryRun) return printPlan(ctx, result.before, result.after, []);
  const n = result.draining.length;
  ctx.out.success(`${service.name}@${version} takes no new logins (generation ${result.generation}); ${n} process${n === 1 ? '' : 'es'} draining`);
  const warnings = await routerWarnings(config, (m) => ctx.out.warn(m));
  let waitedMs: number | undefined;
  if (options.wait === true) {
    const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
    try {
      ({ waitedMs } = await waitRetired({ store, service: service.name, version, timeoutMs: timeoutMs ?? service.drain.timeoutMs + 60_000, progress }));
    } finally {
      progress.stop();
    }
    ctx.out.success(`${service.name}@${version} retired after ${waitedMs} ms`);
  }
  ctx.out.result({ ok: true, service: service.name, version, draining: result.draining, generation: result.generation, warnings, ...(waitedMs !== undefined ? { retiredAfterMs: waitedMs } : {}) });
};
