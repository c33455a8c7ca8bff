import { checkVersion } from '../../core/version.js';
import { promote } from '../../ops/promote.js';
import type { CommandModule } from '../commands.js';
import { printPlan } from '../dry-run.js';
import { commandOps } from '../ops-deps.js';
import { openProject } from '../project.js';
import { routerWarnings } from '../router-warnings.js';
import { pickService } from '../service.js';

/** `promote <version>`: parse, run the promote operation, print. */
export const run: CommandModule['run'] = async (ctx, args, options) => {
  const version = checkVersion(args[0]);
  const { loaded, store } = await openProject(ctx);
  const service = pickService(ctx, loaded.config);
  const ops = commandOps(ctx, loaded, store, 'promote', { startDaemon: false });
  const result = await promote(ops.deps, { service, version, dryRun: options.dryRun === true }).finally(() => ops.close());
  if (options.dryRun === true) return printPlan(ctx, result.before, result.after, []);
  if (result.unchanged) {
    ctx.out.success(`${service.name}: ${version} is already the target (generation ${result.generation}); nothing to do`);
    ctx.out.result({ ok: true, service: service.name, target: version, previousTarget: version, generation: result.generation, unchanged: true, draining: [] });
    return;
  }
  const previous = result.previousTarget;
  ctx.out.success(`${service.name}: ${version} is the target (generation ${result.generation})${previous ? `; ${previous} is draining${result.drainDeadline ? ` until ${result.drainDeadline} at the latest` : ''}` : ''}`);
  const warnings = await routerWarnings(loaded.config, (m) => ctx.out.warn(m));
  ctx.out.result({ ok: true, service: service.name, target: version, previousTarget: previous, generation: result.generation, draining: result.draining, warnings });
};
