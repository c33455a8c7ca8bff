import { usageError } from '../../core/errors.js';
import { promote } from '../../core/policy-transitions.js';
import { liveInFleet } from '../../fleet/alive.js';
import { FleetSet } from '../../fleet/fleets.js';
import { checkVersion } from '../../core/version.js';
import { commitIfChanged } from '../../store/commit-if-changed.js';
import type { CommandModule } from '../commands.js';
import { printPlan } from '../dry-run.js';
import { openProject } from '../project.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';

export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const { loaded, store } = await openProject(ctx);
  const service = pickService(ctx, loaded.config);
  const before = await store.read();
  const previous = before.services[service.name]?.target ?? null;
  const active = (before.services[service.name]?.processes ?? []).filter((p) => p.version === version && p.state === 'active');
  if (active.length > 0 && before.services[service.name]?.target !== version) {
    // Logins must never go to a process that died before the reconcile loop noticed.
    const fleets = new FleetSet(loaded.config, false);
    const { live, dead } = await liveInFleet(fleets, active).finally(() => fleets.closeAll());
    if (live.length === 0) {
      throw usageError('version_down', `Cannot promote ${service.name}@${version}: PM2 no longer runs its processes (${dead.map((p) => p.id).join(', ')}); run \`switchyard deploy ${version}\` to start new ones.`, { service: service.name, version, ids: dead.map((p) => p.id) });
    }
  }
  const apply = (p: typeof before) => promote(p, service.name, version, new Date(), service.drain.timeoutMs);
  if (options.dryRun === true) return printPlan(ctx, before, apply(before), []);
  // One compare-and-set: a concurrent change makes this exit 4 (run it again), never a lost update.
  const { policy: written, wrote } = await commitIfChanged(store, apply, { retries: 0 });
  if (!wrote) {
    ctx.out.success(`${service.name}: ${version} is already the target (generation ${written.generation}); nothing to do`);
    ctx.out.result({ ok: true, service: service.name, target: version, previousTarget: version, generation: written.generation, unchanged: true, draining: [] });
    return;
  }
  const draining = written.services[service.name]!.processes.filter((p) => p.version === previous && p.state === 'draining');
  ctx.out.success(`${service.name}: ${version} is the target (generation ${written.generation})${previous ? `; ${previous} is draining${draining[0]?.drainDeadline ? ` until ${draining[0].drainDeadline} at the latest` : ''}` : ''}`);
  const warnings = await routerWarnings(loaded.config, (m) => ctx.out.warn(m));
  ctx.out.result({ ok: true, service: service.name, target: version, previousTarget: previous, generation: written.generation, draining: draining.map((p) => p.id), warnings });
};
