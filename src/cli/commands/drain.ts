import { parseDuration } from '../../core/duration.js';
import { failedError } from '../../core/errors.js';
import { processesOf } from '../../core/policy-query.js';
import { drain, retire } from '../../core/policy-transitions.js';
import { checkVersion } from '../../core/version.js';
import { FleetSet } from '../../rollout/fleets.js';
import { stopProcesses } from '../../rollout/retire-now.js';
import { readToken } from '../../store/token.js';
import type { StatusBody } from '../../router/status.js';
import type { CommandModule } from '../commands.js';
import { createProgress } from '../progress.js';
import { openProject } from '../project.js';
import { fetchStatus, routerUrl } from '../router-client.js';
import { pickService } from '../service.js';
import { waitRetired } from '../wait-retired.js';

/** Terminals each process holds by its last heartbeat, when the router answers. */
async function terminalsHeld(url: string, token: string | undefined, service: string): Promise<Map<string, number> | undefined> {
  if (token === undefined) return undefined;
  const status = (await fetchStatus(url, token)) as StatusBody | undefined;
  const svc = status?.services[service];
  if (svc === undefined) return undefined;
  return new Map(svc.processes.map((p) => [p.id, p.terminals]));
}

export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const timeoutMs = options.timeout === undefined ? undefined : parseDuration(String(options.timeout), '--timeout');
  const before = await store.read();
  const now = new Date();
  const next = drain(before, service.name, version, now, service.drain.timeoutMs);
  // Draining a version that already drains changes nothing: no new revision for it.
  const drained = JSON.stringify(next) === JSON.stringify(before) ? before : await store.write(next, before.generation);
  const draining = processesOf(drained, service.name, version, ['draining']);
  ctx.out.success(`${service.name}@${version} takes no new logins (generation ${drained.generation}); ${draining.length} process${draining.length === 1 ? '' : 'es'} draining`);

  if (options.now === true) {
    const held = await terminalsHeld(routerUrl(config), await readToken(config.stateDir), service.name);
    const fleets = new FleetSet(config, true);
    try {
      const stops = await stopProcesses(fleets, draining);
      const stopped = stops.filter((s) => s.stopped).map((s) => s.id);
      const written = stopped.length > 0 ? await store.update((p) => retire(p, service.name, stopped, new Date())) : drained;
      const cutOff = held === undefined ? null : draining.reduce((n, p) => n + (held.get(p.id) ?? 0), 0);
      ctx.out.success(`stopped ${stopped.length} of ${draining.length}; terminals cut off: ${cutOff ?? 'unknown (the router did not answer)'}`);
      const failed = stops.filter((s) => !s.stopped);
      if (failed.length > 0) {
        throw failedError('drain_stop_failed', `Could not stop ${failed.map((f) => `${f.id} (${f.reason})`).join(', ')}: they stay draining; run the command again.`, { stops, terminalsCutOff: cutOff });
      }
      ctx.out.result({ ok: true, service: service.name, version, stopped, terminalsCutOff: cutOff, generation: written.generation });
    } finally {
      await fleets.closeAll();
    }
    return;
  }

  let waitedMs: number | undefined;
  if (options.wait === true) {
    const progress = createProgress({ json: ctx.out.json, tty: process.stderr.isTTY === true });
    try {
      ({ waitedMs } = await waitRetired({ store, service: service.name, version, timeoutMs: timeoutMs ?? service.drain.timeoutMs + 60_000, progress, routerUrl: routerUrl(config), warn: (m) => ctx.out.warn(m) }));
    } finally {
      progress.stop();
    }
    ctx.out.success(`${service.name}@${version} retired after ${waitedMs} ms`);
  }
  ctx.out.result({ ok: true, service: service.name, version, draining: draining.map((p) => p.id), generation: drained.generation, ...(waitedMs !== undefined ? { retiredAfterMs: waitedMs } : {}) });
};
