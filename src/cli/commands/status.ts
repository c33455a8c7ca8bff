import type { Config } from '../../config/schema.js';
import { failedError, usageError } from '../../core/errors.js';
import { describeRegression, regressionOf } from '../../core/regression.js';
import { prune, type Orphan } from '../../ops/prune.js';
import { commandOps } from '../ops-deps.js';
import type { Policy } from '../../core/policy-schema.js';
import { pauseLeftMs } from '../../core/rollout-schema.js';
import { FleetSet } from '../../fleet/fleets.js';
import { fleetView } from '../../fleet/fleet-view.js';
import type { StatusBody } from '../../protocol/status-body.js';
import type { Store } from '../../store/store.js';
import { readToken } from '../../store/token.js';
import type { CommandModule } from '../commands.js';
import type { Context } from '../context.js';
import { openProject } from '../project.js';
import { fetchStatus, routerUrls, type RouterFailover } from '../router-client.js';
import { printStatus, problemsOf, routerField, statusDocument, warnRouterDown } from '../status-print.js';
import { watchUntilStopped } from '../watch.js';

/** Status without the router: the policy, and PM2's view when a daemon runs; no heartbeats. */
async function offlineStatus(fleets: FleetSet, policy: Policy): Promise<StatusBody> {
  const hosts = Object.values(policy.services).flatMap((s) => s.processes.map((p) => p.host));
  const views = await fleetView(fleets, hosts);
  const services: StatusBody['services'] = {};
  for (const [name, s] of Object.entries(policy.services)) {
    services[name] = {
      target: s.target,
      canary: s.canary,
      tally: [],
      ...(s.rollout === undefined ? {} : { rollout: { ...s.rollout, pauseLeftMs: pauseLeftMs(s.rollout, Date.now()) } }),
      processes: s.processes.map((p) => {
        const view = views.get(p.host);
        return {
          id: p.id, version: p.version, host: p.host, address: p.address, port: p.port, state: p.state,
          heartbeat: { ageMs: null, stale: true }, terminals: 0,
          pm2: view?.processes === undefined ? { unreachable: view?.error ?? 'unknown' } : (view.processes.get(p.id) ?? null),
        };
      }),
    };
  }
  // Without the router, running names are what outlives a store that went back.
  const names = [...views.values()].flatMap((v) => [...(v.processes?.keys() ?? [])]);
  const regression = regressionOf(policy, [], names);
  return {
    generation: policy.generation,
    policy: { generation: policy.generation, fileBroken: false, error: null, loadedAt: null },
    ...(regression === undefined ? {} : { alarms: [{ kind: 'policy_regressed' as const, message: describeRegression(regression) }] }),
    services,
  };
}

async function snapshot(config: Config, store: Store, fleets: FleetSet): Promise<{ body: StatusBody; routerUp: boolean; url: string; failovers: RouterFailover[] }> {
  const token = await readToken(config.stateDir);
  const urls = routerUrls(config);
  const asked = token === undefined ? undefined : await fetchStatus(urls, token);
  const failovers = asked?.failovers ?? [];
  if (asked?.body !== undefined) return { body: asked.body as StatusBody, routerUp: true, url: asked.url ?? urls[0]!, failovers };
  return { body: await offlineStatus(fleets, await store.read()), routerUp: false, url: urls[0]!, failovers };
}

export const run: CommandModule['run'] = async (ctx: Context, _args, options) => {
  const { loaded, store } = await openProject(ctx);
  const { config } = loaded;
  const wanted = ctx.options.service;
  const ops = commandOps(ctx, loaded, store, 'prune', { startDaemon: false });
  const fleets = ops.deps.fleets as FleetSet;
  const show = async (): Promise<number> => {
    const { body, routerUp, url, failovers } = await snapshot(config, store, fleets);
    if (wanted !== undefined && !Object.hasOwn(body.services, wanted) && !Object.hasOwn(config.services, wanted)) {
      const known = [...new Set([...Object.keys(config.services), ...Object.keys(body.services)])].sort();
      throw usageError('unknown_service', `There is no service ${JSON.stringify(wanted)} in the config or the policy${known.length > 0 ? `; known: ${known.join(', ')}` : ''}.`);
    }
    const filtered = wanted === undefined ? body : { ...body, services: Object.fromEntries(Object.entries(body.services).filter(([n]) => n === wanted)) };
    const careful = options.check === true || options.prune === true;
    let orphans: Orphan[] = [];
    if (careful) {
      const highest = Math.max(-1, ...(body.alarms ?? []).map((a) => a.highest ?? -1));
      const found = await prune(ops.deps, { remove: options.prune === true, confirmed: ctx.options.yes === true, ...(highest >= 0 ? { acknowledge: highest } : {}) });
      for (const id of found.deleted) ctx.out.success(`deleted the orphan ${id} from PM2`);
      if (found.acknowledged !== undefined) ctx.out.success(`acknowledged that the policy store went back (generation ${found.acknowledged}); the reconcile loop acts again`);
      for (const k of found.kept) if (options.prune === true) ctx.out.warn(`kept ${k.id} on ${k.host}: ${k.reason}`);
      orphans = options.prune === true ? found.orphans.filter((o) => !found.deleted.includes(o.id)) : found.orphans;
      if (found.regression !== undefined && found.acknowledged === undefined && !(body.alarms ?? []).some((a) => a.kind === 'policy_regressed')) {
        body.alarms = [...(body.alarms ?? []), { kind: 'policy_regressed', message: describeRegression(found.regression) }];
      }
    }
    const shown = { body, routerUp, url, failovers, watch: options.watch === true };
    const problems = problemsOf(filtered, shown, orphans);
    const failing = options.check === true && options.watch !== true && problems.length > 0;
    const failure = () => failedError('check_failed', `status --check found ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.map((p) => p.message).join('; ')}.`, { ...filtered, router: routerField(shown), problems });
    // With --check, a failing status is the one JSON document (ok: false, with the status inside).
    if (failing && ctx.out.json) throw failure();
    if (ctx.out.json) {
      warnRouterDown(ctx, shown);
      process.stdout.write(statusDocument(wanted, shown, orphans));
    }
    else await printStatus(ctx, shown);
    for (const p of problems.filter((q) => q.kind === 'orphan')) if (!ctx.out.json) ctx.out.warn(p.message);
    if (failing) throw failure();
    return problems.length;
  };
  try {
    if (options.watch !== true) {
      await show();
      return;
    }
    // Redraws every heartbeat interval until Ctrl-C, which ends with exit 0.
    await watchUntilStopped(show, config.router.heartbeatIntervalMs);
  } finally {
    await ops.close();
  }
};
