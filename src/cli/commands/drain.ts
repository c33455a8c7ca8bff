import { ownerOf } from '../../ops/owner.js';
import { parseDuration } from '../../core/duration.js';
import { failedError } from '../../core/errors.js';
import { processesOf } from '../../core/policy-query.js';
import type { Policy } from '../../core/policy-schema.js';
import { claimStop, drain, retire } from '../../core/policy-transitions.js';
import { checkVersion } from '../../core/version.js';
import { FleetSet } from '../../fleet/fleets.js';
import { stopProcesses } from '../../fleet/stop-processes.js';
import { commitIfChanged } from '../../store/commit-if-changed.js';
import { readToken } from '../../store/token.js';
import type { StatusBody } from '../../protocol/status-body.js';
import type { CommandModule } from '../commands.js';
import { printPlan } from '../dry-run.js';
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

export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const service = pickService(ctx, config);
  const timeoutMs = options.timeout === undefined ? undefined : parseDuration(String(options.timeout), '--timeout');
  const before = await store.read();
  const drained = (p: Policy) => {
    const next = drain(p, service.name, version, new Date(), service.drain.timeoutMs);
    // Draining a version that already drains changes nothing: no new revision for it.
    return JSON.stringify(next) === JSON.stringify(p) ? p : next;
  };
  if (options.dryRun === true) {
    let after = drained(before);
    if (options.now === true) {
      const ids = processesOf(after, service.name, version, ['draining']).map((p) => p.id);
      if (ids.length > 0) after = claimStop(after, service.name, ids, { now: new Date(), reason: 'now', owner: { id: 'dry-run' } });
    }
    return printPlan(ctx, before, after, []);
  }

  if (options.now === true) {
    // Claim → act → record: the stop is committed (stopping, owned by this command) before anything is stopped.
    const held = await terminalsHeld(routerUrls(config), await readToken(config.stateDir), service.name, (m) => ctx.out.warn(m));
    const owner = ownerOf('drain', new Date(), service.killTimeoutMs * 2 + 60_000);
    const claimed = await commitIfChanged(store, (head) => {
      const next = drained(head);
      const ids = processesOf(next, service.name, version, ['draining']).map((p) => p.id);
      return ids.length === 0 ? next : claimStop(next, service.name, ids, { now: new Date(), reason: 'now', owner, terminals: Object.fromEntries(ids.map((id) => [id, held?.get(id) ?? 0])) });
    });
    const mine = processesOf(claimed.policy, service.name, version, ['stopping']).filter((p) => p.owner?.id === owner.id);
    const fleets = new FleetSet(config, true);
    try {
      const stops = await stopProcesses(fleets, mine);
      const stopped = stops.filter((s) => s.stopped).map((s) => s.id);
      const written = stopped.length > 0 ? (await commitIfChanged(store, (p) => retire(p, service.name, stopped.filter((id) => processesOf(p, service.name, version, ['stopping']).some((e) => e.id === id)), new Date()))).policy : claimed.policy;
      const cutOff = held === undefined ? null : mine.reduce((n, p) => n + (held.get(p.id) ?? 0), 0);
      ctx.out.success(`stopped ${stopped.length} of ${mine.length}; terminals cut off: ${cutOff ?? 'unknown (the router did not answer)'}`);
      const failed = stops.filter((s) => !s.stopped);
      if (failed.length > 0) {
        throw failedError('drain_stop_failed', `Could not stop ${failed.map((f) => `${f.id} (${f.reason})`).join(', ')}: their stop is claimed (state stopping), and the router's reconcile loop finishes it once the host answers; or run the command again.`, { stops, terminalsCutOff: cutOff });
      }
      ctx.out.result({ ok: true, service: service.name, version, stopped, terminalsCutOff: cutOff, generation: written.generation });
    } finally {
      await fleets.closeAll();
    }
    return;
  }

  const written = (await commitIfChanged(store, drained, { retries: 0 })).policy;
  const draining = processesOf(written, service.name, version, ['draining']);
  ctx.out.success(`${service.name}@${version} takes no new logins (generation ${written.generation}); ${draining.length} process${draining.length === 1 ? '' : 'es'} draining`);
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
  ctx.out.result({ ok: true, service: service.name, version, draining: draining.map((p) => p.id), generation: written.generation, warnings, ...(waitedMs !== undefined ? { retiredAfterMs: waitedMs } : {}) });
};
